-- Exercised by the Lua interpreter linked with the linker under test.  Deterministic output only:
-- no addresses, no time, no iteration over hash tables without sorting.
local failures = 0
local function check(ok, what)
  if not ok then
    failures = failures + 1
    print("FAILED: " .. what)
  end
end

print(HOST_LUA_RELEASE, _VERSION, select("#", ...) .. " args:", ...)

-- string library
local s = "The quick brown fox jumps over the lazy dog"
print(#s, s:upper(), s:lower():sub(5, 9), s:rep(2, "|"):len())
print(s:find("fox"), s:match("(%a+) dog"), (s:gsub("o", "0")))
local words = {}
for w in s:gmatch("%a+") do words[#words + 1] = w end
print(#words, table.concat(words, ","))
print(string.format("%5d|%-5s|%05.1f|%x|%q|%g|%.3e", 42, "ab", 3.14159, 255, "a\nb\"c", 1e100, 123456.789))
print(string.format("%s %10.4f %-8d| %c%c%c", true, math.pi, -7, 76, 117, 97))
print(("%d items"):format(3), string.byte("A"), string.char(72, 105), ("abc"):reverse())
local packed = string.pack("<i4 d s1", 123456, 2.5, "lua")
print(#packed, string.unpack("<i4 d s1", packed))
print(utf8.char(72, 228, 8364, 128512), utf8.len("häll€"))

-- tables
local t = {}
for i = 1, 100 do t[i] = (i * 37) % 101 end
table.sort(t)
print(t[1], t[50], t[100], #t)
table.sort(t, function(a, b) return a > b end)
print(t[1], t[2], t[100])
table.insert(t, 1, -1)
print(table.remove(t), table.remove(t, 1), #t)
local map = {apple = 3, banana = 5, cherry = 7, date = 11}
local keys = {}
for k in pairs(map) do keys[#keys + 1] = k end
table.sort(keys)
local parts = {}
for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. map[k] end
print(table.concat(parts, " "))
print(table.unpack({1, 2, 3}, 2), select(-1, 10, 20, 30))
local mt = setmetatable({}, {
  __index = function(_, k) return k * 2 end,
  __call = function(self, x) return "called with " .. x end,
  __tostring = function() return "custom object" end,
  __add = function(a, b) return 99 end,
})
print(mt[21], mt("arg"), tostring(mt), mt + 1)

-- math
print(math.floor(3.7), math.ceil(3.2), math.max(4, 9, 2), math.min(4, 9, 2), math.abs(-3))
print(string.format("%.10f %.10f %.10f", math.sin(1), math.sqrt(2), math.log(10, 2)))
print(7 // 2, 7 % 3, -7 // 2, -7 % 3, 7 / 2, 2 ^ 10, 1 << 62, 0xff ~ 0x0f)
print(math.type(1), math.type(1.0), math.type("1"), math.tointeger(3.0), 3 == 3.0)
print(math.maxinteger, math.mininteger, math.maxinteger + 1 == math.mininteger)
math.randomseed(42)
local r = {}
for i = 1, 5 do r[i] = math.random(1, 1000) end
print("random:", table.concat(r, " "))

-- coroutines
local function gen(n)
  return coroutine.wrap(function()
    for i = 1, n do coroutine.yield(i * i) end
    return "done"
  end)
end
local g = gen(5)
local sq = {}
for _ = 1, 6 do sq[#sq + 1] = tostring(g()) end
print("squares:", table.concat(sq, " "))
local co = coroutine.create(function(a, b)
  local c = coroutine.yield(a + b)
  local d, e = coroutine.yield(c * 2)
  error("inside coroutine: " .. (d + e))
end)
print(coroutine.resume(co, 1, 2))
print(coroutine.resume(co, 10))
local ok, err = coroutine.resume(co, 3, 4)
print(ok, (err:gsub("^.-:%d+: ", "")), coroutine.status(co))
-- producer/consumer
local producer = coroutine.create(function()
  for _, item in ipairs({"a", "b", "c"}) do coroutine.yield(item) end
end)
local got = {}
while true do
  local _, item = coroutine.resume(producer)
  if not item then break end
  got[#got + 1] = item
end
print("consumed:", table.concat(got), coroutine.isyieldable())

-- pcall / error
print(pcall(error, "plain message", 0))
local ok1, e1 = pcall(error, {code = 42})
print(ok1, type(e1), e1.code)
local ok2, e2 = pcall(function() local x = nil; return x.field end)
print(ok2, (e2:gsub("^.-:%d+: ", "")))
print(select(2, pcall(error)))
print(xpcall(function() error("deep", 0) end, function(m) return "handled: " .. m end))
local ok3, e3 = pcall(host_fail, "lua")
print(ok3, e3)
print(pcall(string.rep))
local depth = 0
local function recurse() depth = depth + 1; return recurse() + 1 end
local ok4, e4 = pcall(recurse)
print("stack overflow caught:", not ok4, depth > 1000, tostring(e4):find("stack overflow") ~= nil)

-- closures and varargs
local function counter()
  local c = 0
  return function() c = c + 1; return c end
end
local c1, c2 = counter(), counter()
c1(); c1()
print(c1(), c2())
local function sum(...)
  local total = 0
  for _, v in ipairs({...}) do total = total + v end
  return total, select("#", ...)
end
print(sum(1, 2, 3, 4.5))

-- goto, integer division, string <-> number coercion
local acc = 0
for i = 1, 10 do
  if i % 2 == 0 then goto continue end
  acc = acc + i
  ::continue::
end
print(acc, "10" + 5, 10 .. "", tonumber("0x10"), tonumber("z", 36), tostring(1e15), tostring(2^63))

-- garbage collector and weak tables
local weak = setmetatable({}, {__mode = "k"})
do
  for i = 1, 100 do weak[{}] = i end
end
collectgarbage()
collectgarbage()
local left = 0
for _ in pairs(weak) do left = left + 1 end
print("weak entries after gc:", left)

local big = {}
for i = 1, 200000 do big[i] = tostring(i) end
local total = 0
for i = 1, #big, 1000 do total = total + #big[i] end
print("big:", #big, total, host_checksum(table.concat(big, "", 1, 1000)))

-- load and string.dump
local f = load("return 6 * 7")
print(f(), load(string.dump(function(x) return x + 1 end))(41))
check(f() == 42, "load")

check(#words == 9, "gmatch")
check(not ok, "coroutine error")
print("failures:", failures)
return failures == 0 and 0 or 10 + failures
