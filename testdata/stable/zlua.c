/* Version-stable layout test program: a Lua script (string, table, math and coroutine
 * libraries, the parser and the garbage collector) whose output is compressed and restored
 * with zlib. */
#include "stable.h"
#include "rt_zlib.h"
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

static const char script[] =
    "local t = {}\n"
    "for i = 1, 2000 do t[i] = (i * 7919) % 1009 end\n"
    "table.sort(t, function(a, b) return a > b end)\n"
    "local words = {}\n"
    "for w in ('page share linker library region layout stable version'):gmatch('%a+') do\n"
    "  words[#words + 1] = w:upper():reverse()\n"
    "end\n"
    "local co = coroutine.wrap(function()\n"
    "  for i = 1, 5 do coroutine.yield(i * i) end\n"
    "end)\n"
    "local squares = {}\n"
    "for _ = 1, 5 do squares[#squares + 1] = co() end\n"
    "local acc = 0\n"
    "for i = 1, 100000 do acc = (acc + i * i) % 1000003 end\n"
    "local s = string.format('%d %d %d %s %s %d %.3f', t[1], t[1000], t[2000],\n"
    "  table.concat(words, ','), table.concat(squares, ' '), acc, math.sqrt(2))\n"
    "local parts = {}\n"
    "for i = 1, 200 do parts[i] = s .. ' #' .. i end\n"
    "return table.concat(parts, '\\n')\n";

int main(void)
{
    lua_State *L = luaL_newstate();
    int ok = L != NULL;
    printf("zlib %s\n", zlibVersion());
    printf("lua %s\n", LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE);
    if (ok) {
        luaL_openlibs(L);
        ok = luaL_dostring(L, script) == LUA_OK;
        if (!ok) {
            printf("lua error: %s\n", lua_tostring(L, -1));
        } else {
            size_t n;
            const char *out = lua_tolstring(L, -1, &n);
            printf("lua output: %zu bytes, fnv1a %08x, first line: %.60s\n", n,
                   (unsigned)fnv1a((const unsigned char *)out, n), out);
            ok = zlib_roundtrip((const unsigned char *)out, n);
        }
        lua_close(L);
    }
    puts(ok ? "all round trips ok" : "FAILED");
    return ok ? 0 : 1;
}
