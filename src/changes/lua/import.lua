-- proflag: write many flags in one step, and delete others (ffr import [--replace]).
-- Everything is checked before the first write: all or nothing.
-- KEYS[3..] the flag keys: first those of "set" (in order), then those of "delete".
-- ARGV[6] {"set": [[name, document], ...], "delete": [name, ...]} (JSON).
-- Audit name "*", detail defaults to "N written, M deleted". Returns the new version.
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

if #KEYS < 2 or #ARGV ~= 6 then
  return usage("KEYS version audit flag...; ARGV channel who maxlen reason detail payload")
end
local ok, p = pcall(cjson.decode, ARGV[6])
if not ok or type(p) ~= "table" then return redis.error_reply("PROFLAG_BADINPUT payload is not JSON") end
local set, del = p["set"] or {}, p["delete"] or {}
if #KEYS ~= 2 + #set + #del then
  return redis.error_reply("PROFLAG_BADINPUT expected " .. (#set + #del) .. " flag keys after version and audit")
end
for i, item in ipairs(set) do
  if type(item) ~= "table" or not valid_name(item[1]) or type(item[2]) ~= "string"
      or not flag_key_of(KEYS[2 + i], item[1]) or not document_names(item[2], item[1]) then
    return redis.error_reply("PROFLAG_BADINPUT set entry " .. i .. " is not [name, document] with a matching key")
  end
end
for i, name in ipairs(del) do
  if not valid_name(name) or not flag_key_of(KEYS[2 + #set + i], name) then
    return redis.error_reply("PROFLAG_BADINPUT delete entry " .. i .. " is not a flag name with a matching key")
  end
end
local before, after = bump()
for i, item in ipairs(set) do
  redis.call("SET", KEYS[2 + i], item[2])
  redis.call("PUBLISH", ARGV[1], item[1])
end
for i, name in ipairs(del) do
  redis.call("DEL", KEYS[2 + #set + i])
  redis.call("PUBLISH", ARGV[1], name)
end
audit("import", "*", before, after, #set .. " written, " .. #del .. " deleted")
return after
