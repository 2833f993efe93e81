-- proflag: drop a learned proposal (ffr reject). PROFLAG_NOPROPOSAL when it is gone.
-- KEYS[3] <prefix>proposal:<id>, KEYS[4] <prefix>proposals; ARGV[6] proposal id.
-- Publishes "proposal:<id>"; audit name "", detail defaults to "proposal <id>". Returns the new version.
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

if #KEYS ~= 4 or #ARGV ~= 6 then
  return usage("KEYS version audit proposal proposals; ARGV channel who maxlen reason detail id")
end
if redis.call("EXISTS", KEYS[3]) == 0 and not redis.call("ZSCORE", KEYS[4], ARGV[6]) then
  return redis.error_reply("PROFLAG_NOPROPOSAL")
end
local before, after = bump()
redis.call("DEL", KEYS[3])
redis.call("ZREM", KEYS[4], ARGV[6])
redis.call("PUBLISH", ARGV[1], "proposal:" .. ARGV[6])
audit("reject", "", before, after, "proposal " .. ARGV[6])
return after
