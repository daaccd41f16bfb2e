/* A small embedding of Lua: runs the script named on the command line with the standard
 * libraries, plus a C function exported to Lua.  Exit status: 0 on success, 1 on a Lua error,
 * or the integer the script returns. */
#include <stdio.h>
#include <stdlib.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

static int host_checksum(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned long h = 5381;
    for (size_t i = 0; i < len; i++)
        h = h * 33 + (unsigned char)s[i];
    lua_pushinteger(L, (lua_Integer)(h & 0x7fffffff));
    return 1;
}

static int host_fail(lua_State *L)
{
    return luaL_error(L, "host_fail called with %s", luaL_checkstring(L, 1));
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s script.lua [args]\n", argv[0]);
        return 2;
    }
    lua_State *L = luaL_newstate();
    if (!L)
        return 3;
    luaL_openlibs(L);
    lua_register(L, "host_checksum", host_checksum);
    lua_register(L, "host_fail", host_fail);
    lua_pushstring(L, LUA_RELEASE);
    lua_setglobal(L, "HOST_LUA_RELEASE");

    lua_pushcfunction(L, traceback);
    int status = luaL_loadfile(L, argv[1]);
    if (status == LUA_OK) {
        for (int i = 2; i < argc; i++)
            lua_pushstring(L, argv[i]);
        status = lua_pcall(L, argc - 2, 1, 1);
    }
    int rc = 0;
    if (status != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        printf("script failed\n");
        rc = 1;
    } else if (lua_isinteger(L, -1)) {
        rc = (int)lua_tointeger(L, -1);
    }
    lua_close(L);
    return rc;
}
