-- Deterministic workload used to check that a linked Lua interpreter works.
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
print("fib(25) = " .. fib(25))

local t = {}
for i = 1, 2000 do t[i] = (i * 7919) % 2003 end
table.sort(t)
print("sorted", t[1], t[1000], t[2000], #t)

local words = {}
for w in ("the quick brown fox jumps over the lazy dog"):gmatch("%a+") do
  words[#words + 1] = w:upper()
end
print(table.concat(words, ","))
print(string.format("%5.2f %x %q", math.pi, 48879, "a\nb"))

local co = coroutine.wrap(function()
  for i = 1, 3 do coroutine.yield(i * i) end
end)
print("coroutine", co(), co(), co())

local ok, err = pcall(function() error({code = 42}) end)
print("pcall", ok, err.code)
print("utf8", utf8.len("héllo"), utf8.char(72, 228, 8364))
print("integer", math.maxinteger // 3, 7 // 2, 7.0 // 2, 3 | 5, 1 << 40)

local mt = setmetatable({}, {__index = function(_, k) return k * 2 end})
print("metatable", mt[21])
local s = string.rep("ab", 1000)
print("gsub", select(2, s:gsub("ab", "x")))
print("os.time", os.time({year = 2000, month = 1, day = 1, hour = 12}) ~= nil)
collectgarbage()
print("done")
