-- proflag: compare-and-set one flag (enable, disable, shadow, enforce, any update).
-- Writes only if the stored document is still the one the change was computed from
-- (compared by SHA-1); else PROFLAG_CONFLICT (read again and retry), PROFLAG_NOFLAG when gone.
-- KEYS[3] <prefix>flag:<name>; ARGV[6] name, ARGV[7] audit action, ARGV[8] SHA-1 (hex) of the
-- document read, ARGV[9] the new JSON document. Returns the new version.
-- BEGIN common (identical in every change script; test/unit/changes/luaScripts.test.ts checks)
-- KEYS[1] <prefix>version, KEYS[2] <prefix>audit
-- ARGV[1] <prefix>changes (the channel), ARGV[2] who, ARGV[3] audit MAXLEN (e.g. 10000),
-- ARGV[4] reason, ARGV[5] detail ("" for none)
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function usage(text)
  return redis.error_reply("PROFLAG_BADINPUT usage: " .. text)
end
local function bump()
  local v = redis.call("INCR", KEYS[1])
  return tostring(v - 1), tostring(v)
end
local function audit(action, name, before, after, default_detail)
  local t = redis.call("TIME")
  local ms = string.format("%d", tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  local fields = {"who", ARGV[2], "action", action, "name", name, "before", before, "after", after, "time", ms}
  if ARGV[4] ~= "" then
    fields[#fields + 1] = "reason"
    fields[#fields + 1] = ARGV[4]
  end
  local detail = ARGV[5]
  if detail == "" then detail = default_detail or "" end
  if detail ~= "" then
    fields[#fields + 1] = "detail"
    fields[#fields + 1] = detail
  end
  redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[3], "*", unpack(fields))
end
local function valid_name(name)
  return type(name) == "string" and #name <= 63 and name:match("^[a-z0-9][a-z0-9._-]*$") ~= nil
end
-- The key names the flag: it ends with "flag:" .. name.
local function flag_key_of(key, name)
  local suffix = "flag:" .. name
  return #key > #suffix and key:sub(-#suffix) == suffix
end
-- The document is a JSON object whose "name" is the flag name.
local function document_names(doc, name)
  local ok, value = pcall(cjson.decode, doc)
  return ok and type(value) == "table" and value["name"] == name
end
-- END common

if #KEYS ~= 3 or #ARGV ~= 9 then
  return usage("KEYS version audit flag; ARGV channel who maxlen reason detail name action sha1 document")
end
if not valid_name(ARGV[6]) or not flag_key_of(KEYS[3], ARGV[6]) then
  return redis.error_reply("PROFLAG_BADINPUT the flag key must be <prefix>flag:<name> with a valid name")
end
if not ARGV[7]:match("^[a-z][a-z-]*$") then return redis.error_reply("PROFLAG_BADINPUT invalid action") end
if not document_names(ARGV[9], ARGV[6]) then
  return redis.error_reply("PROFLAG_BADINPUT the document must be a JSON object with \"name\": \"" .. ARGV[6] .. "\"")
end
local cur = redis.call("GET", KEYS[3])
if not cur then return redis.error_reply("PROFLAG_NOFLAG") end
if redis.sha1hex(cur) ~= ARGV[8] then return redis.error_reply("PROFLAG_CONFLICT") end
local before, after = bump()
redis.call("SET", KEYS[3], ARGV[9])
redis.call("PUBLISH", ARGV[1], ARGV[6])
audit(ARGV[7], ARGV[6], before, after)
return after
