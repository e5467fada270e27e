-- mcpmesh: derive the MCP route keys (mcp-method, mcp-name) from a JSON-RPC
-- request body for clients that do not send them (2025-era clients), then clear
-- the route cache so that the per-tool route is picked.
--
-- Only the top-level "method" and the top-level "name"/"uri" inside "params"
-- count: the scanner below tracks nesting, so a "method" key inside tool
-- arguments, in any key order, is never mistaken for the JSON-RPC method.
-- Requests that carry mcp-method already, GETs (the SSE stream) and DELETEs are
-- not touched, and the response path is never buffered.

local byte, sub, find = string.byte, string.sub, string.find
local MAX_BODY = 1048576
-- Methods whose params name the thing a per-route policy is about.
local NAME_KEY = { ["tools/call"] = "name", ["prompts/get"] = "name", ["resources/read"] = "uri" }

-- s[i] is a quote; returns the index after the closing quote and the raw text.
local function read_string(s, i)
  local j = i + 1
  while true do
    local q = find(s, '["\\]', j)
    if q == nil then return nil end
    if byte(s, q) == 92 then
      j = q + 2
    else
      return q + 1, sub(s, i + 1, q - 1)
    end
  end
end

-- Returns the index just after the JSON value that starts at s[i].
local function skip_value(s, i)
  local c = byte(s, i)
  if c == 34 then return (read_string(s, i)) end
  if c == 123 or c == 91 then
    local depth, j = 0, i
    while true do
      local k = find(s, '[%[%]{}"]', j)
      if k == nil then return nil end
      local ch = byte(s, k)
      if ch == 34 then
        j = read_string(s, k)
        if j == nil then return nil end
      else
        if ch == 123 or ch == 91 then depth = depth + 1 else depth = depth - 1 end
        j = k + 1
        if depth == 0 then return j end
      end
    end
  end
  return find(s, '[,}%]%s]', i)
end

-- s[i] is '{': returns key -> index of its value, for the wanted keys of this object only.
local function members(s, i, wanted)
  local out = {}
  local j = find(s, '%S', i + 1)
  while j ~= nil and byte(s, j) == 34 do
    local after, key = read_string(s, j)
    if after == nil then return out end
    local colon = find(s, '%S', after)
    if colon == nil or byte(s, colon) ~= 58 then return out end
    local v = find(s, '%S', colon + 1)
    if v == nil then return out end
    if wanted[key] and out[key] == nil then out[key] = v end
    local e = skip_value(s, v)
    if e == nil then return out end
    local n = find(s, '%S', e)
    if n == nil or byte(s, n) ~= 44 then return out end
    j = find(s, '%S', n + 1)
  end
  return out
end

local function string_at(s, i)
  if i == nil or byte(s, i) ~= 34 then return nil end
  local _, text = read_string(s, i)
  -- Escaped names are left to the server-wide route rather than guessed.
  if text == nil or find(text, "\\", 1, true) then return nil end
  return text
end

function envoy_on_request(handle)
  local headers = handle:headers()
  if headers:get(":method") ~= "POST" or headers:get("mcp-method") ~= nil then return end
  local length = tonumber(headers:get("content-length") or "")
  if length ~= nil and (length == 0 or length > MAX_BODY) then return end
  local body = handle:body()
  if body == nil then return end
  local n = body:length()
  if n == 0 or n > MAX_BODY then return end
  local s = body:getBytes(0, n)
  local first = find(s, '%S')
  if first == nil or byte(s, first) ~= 123 then return end
  local top = members(s, first, { method = true, params = true })
  local method = string_at(s, top.method)
  if method == nil then return end
  -- The headers handle taken before body() is no longer valid after it.
  headers = handle:headers()
  headers:replace("mcp-method", method)
  local key = NAME_KEY[method]
  if key ~= nil and top.params ~= nil and byte(s, top.params) == 123 then
    local name = string_at(s, members(s, top.params, { [key] = true })[key])
    if name ~= nil then headers:replace("mcp-name", name) end
  end
  handle:clearRouteCache()
end
