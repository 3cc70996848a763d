// Lua scripts of the Redis balancer. Each runs atomically inside Redis, so racing proxies never lose
// a server-list update or disagree on a pin, and each is one round trip. Run by SHA, sent again on
// NOSCRIPT (a restarted Redis has forgotten them).
import { createHash } from 'node:crypto';

/** A script and its SHA-1. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

// Writes a list of strings as Go's encoding/json does (the bytes the Go proxy writes): no spaces;
// `"` and `\` escaped; control characters as \n \r \t \b \f or \u00XX; <, >, &, U+2028 and U+2029
// as \u escapes.
const ENCODE_LIST = String.raw`
local function quote(s)
  s = string.gsub(s, '[%z\1-\31"\\<>&]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    if c == '\n' then return '\\n' end
    if c == '\r' then return '\\r' end
    if c == '\t' then return '\\t' end
    if c == '\b' then return '\\b' end
    if c == '\f' then return '\\f' end
    return string.format('\\u%04x', string.byte(c))
  end)
  s = string.gsub(s, '\226\128\168', '\\u2028')
  s = string.gsub(s, '\226\128\169', '\\u2029')
  return '"' .. s .. '"'
end
local function encode_list(list)
  local parts = {}
  for i, k in ipairs(list) do parts[i] = quote(k) end
  return '[' .. table.concat(parts, ',') .. ']'
end
`;

// Reads the server list; anything but a JSON array of strings counts as empty. Duplicates dropped.
const DECODE_LIST = String.raw`
local function decode_list(raw)
  local out, seen = {}, {}
  if not raw then return out end
  local ok, list = pcall(cjson.decode, raw)
  if not ok or type(list) ~= 'table' then return out end
  for _, k in ipairs(list) do
    if type(k) == 'string' and not seen[k] then
      seen[k] = true
      out[#out + 1] = k
    end
  end
  return out
end
local function server_id_of(record)
  local ok, r = pcall(cjson.decode, record)
  if ok and type(r) == 'table' and type(r.server_id) == 'string' then return r.server_id end
  return nil
end
`;

/**
 * Register (standalone Redis; BEHAVIOUR.md §3.7 keys). KEYS[1] = srs-proxy-all-servers, KEYS[2] = this server's
 * key; ARGV[1] = record JSON, ARGV[2] = key TTL (s), ARGV[3] = server id, ARGV[4] = the key prefix
 * shared by that server's records (`srs-proxy-server:<server>-`).
 * Sets the record, drops listed keys that expired, deletes and unlists the same server's other
 * records (a restart's dead twin), appends this key. Returns the replaced records.
 */
export const REGISTER = script(
  'register',
  DECODE_LIST +
    ENCODE_LIST +
    String.raw`
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
local kept, replaced, listed = {}, {}, false
for _, key in ipairs(decode_list(redis.call('GET', KEYS[1]))) do
  if key == KEYS[2] then
    listed = true
    kept[#kept + 1] = key
  elseif string.sub(key, 1, #ARGV[4]) == ARGV[4] then
    -- The key names this server id (or one that starts like it): the record decides.
    local record = redis.call('GET', key)
    if record then
      if server_id_of(record) == ARGV[3] then
        redis.call('DEL', key)
        replaced[#replaced + 1] = record
      else
        kept[#kept + 1] = key
      end
    end
  elseif redis.call('EXISTS', key) == 1 then
    kept[#kept + 1] = key
  end
end
if not listed then kept[#kept + 1] = KEYS[2] end
redis.call('SET', KEYS[1], encode_list(kept))
return replaced
`,
);

/**
 * Deregister (standalone). KEYS[1] = srs-proxy-all-servers; ARGV[1] = server id, ARGV[2] = key prefix
 * as in REGISTER. Deletes and unlists every record of that server; drops expired keys. Returns how many.
 */
export const DEREGISTER = script(
  'deregister',
  DECODE_LIST +
    ENCODE_LIST +
    String.raw`
local kept, removed = {}, 0
for _, key in ipairs(decode_list(redis.call('GET', KEYS[1]))) do
  local record = redis.call('GET', key)
  if record then
    if string.sub(key, 1, #ARGV[2]) == ARGV[2] and server_id_of(record) == ARGV[1] then
      redis.call('DEL', key)
      removed = removed + 1
    else
      kept[#kept + 1] = key
    end
  end
end
redis.call('SET', KEYS[1], encode_list(kept))
return removed
`,
);

/**
 * The server list and every listed record in one round trip (standalone; one MGET inside).
 * KEYS[1] = srs-proxy-all-servers. Returns {key1, record1, key2, record2, …}, '' for an expired record.
 */
export const SERVERS = script(
  'servers',
  DECODE_LIST +
    String.raw`
local keys = decode_list(redis.call('GET', KEYS[1]))
local out = {}
-- MGET in slices: unpack() of thousands of arguments would overflow the Lua stack.
for first = 1, #keys, 1000 do
  local slice = {}
  for i = first, math.min(first + 999, #keys) do slice[#slice + 1] = keys[i] end
  local values = redis.call('MGET', unpack(slice))
  for i, k in ipairs(slice) do
    out[#out + 1] = k
    out[#out + 1] = values[i] or ''
  end
end
return out
`,
);

/**
 * A stream's pin and its server record in one round trip (standalone). KEYS[1] = srs-proxy-url:<stream>.
 * Returns {} when unpinned, else {serverKey, record} with '' for a record that is gone.
 */
export const RESOLVE = script(
  'resolve',
  String.raw`
local key = redis.call('GET', KEYS[1])
if not key then return {} end
if string.sub(key, 1, 17) ~= 'srs-proxy-server:' then return {key, ''} end
return {key, redis.call('GET', key) or ''}
`,
);

/**
 * Compare-and-set of one key (a re-pin). KEYS[1]; ARGV[1] = expected value, ARGV[2] = new value.
 * Sets (without TTL, as the Go proxy's pins) only when the key holds ARGV[1]; returns the value now held.
 */
export const COMPARE_AND_SET = script(
  'compare-and-set',
  String.raw`
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return current
`,
);

/** Compare-and-delete of one key. KEYS[1]; ARGV[1] = expected value. Returns 1 when deleted. */
export const COMPARE_AND_DELETE = script(
  'compare-and-delete',
  String.raw`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * Edits the server list atomically (Redis Cluster, where one script cannot reach keys of other slots):
 * KEYS[1] = srs-proxy-all-servers; ARGV[1] = key to append ('' = none), ARGV[2…] = keys to remove.
 * Concurrent edits by other proxies are never lost. Returns the new list's length.
 */
export const EDIT_LIST = script(
  'edit-list',
  DECODE_LIST +
    ENCODE_LIST +
    String.raw`
local remove = {}
for i = 2, #ARGV do remove[ARGV[i]] = true end
local kept, listed = {}, false
for _, key in ipairs(decode_list(redis.call('GET', KEYS[1]))) do
  if key == ARGV[1] then listed = true end
  if not remove[key] or key == ARGV[1] then kept[#kept + 1] = key end
end
if ARGV[1] ~= '' and not listed then kept[#kept + 1] = ARGV[1] end
redis.call('SET', KEYS[1], encode_list(kept))
return #kept
`,
);
