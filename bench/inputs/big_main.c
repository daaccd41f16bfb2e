/* Benchmark driver for one large image: Lua, zstd and SQLite linked together (every member of
 * their archives, with debug information). Runs a little of each and prints the results. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"
#include "sqlite3.h"
#include "zstd.h"

static int run_lua(void)
{
    lua_State *L = luaL_newstate();
    if (!L) return 1;
    luaL_openlibs(L);
    const char *script =
        "local t = {} for i = 1, 1000 do t[#t + 1] = i * i end "
        "local s = 0 for _, v in ipairs(t) do s = s + v end "
        "print(string.format('lua: %d squares, sum %d', #t, s))";
    int rc = luaL_dostring(L, script);
    if (rc != LUA_OK) printf("lua error: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc != LUA_OK;
}

static int run_zstd(void)
{
    size_t n = 1 << 20;
    unsigned char *src = malloc(n), *back = malloc(n);
    size_t cap = ZSTD_compressBound(n);
    unsigned char *comp = malloc(cap);
    if (!src || !back || !comp) return 1;
    for (size_t i = 0; i < n; i++) src[i] = (unsigned char)("spacer links"[i % 12] + (i / 4096));
    size_t c = ZSTD_compress(comp, cap, src, n, 3);
    size_t d = ZSTD_decompress(back, n, comp, c);
    int ok = !ZSTD_isError(c) && d == n && memcmp(src, back, n) == 0;
    printf("zstd %u: %zu -> %zu bytes, round trip %s\n", ZSTD_versionNumber(), n, c,
           ok ? "ok" : "FAILED");
    free(src);
    free(back);
    free(comp);
    return !ok;
}

static int print_row(void *arg, int argc, char **argv, char **names)
{
    (void)arg;
    (void)names;
    for (int i = 0; i < argc; i++) printf("%s%s", i ? " " : "sqlite: ", argv[i] ? argv[i] : "NULL");
    printf("\n");
    return 0;
}

static int run_sqlite(void)
{
    sqlite3 *db;
    char *err = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
    const char *sql =
        "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)"
        " INSERT INTO t SELECT x, printf('row %d', x) FROM c;"
        "SELECT count(*), sum(k), max(v) FROM t;";
    int rc = sqlite3_exec(db, sql, print_row, NULL, &err);
    if (rc != SQLITE_OK) printf("sqlite error: %s\n", err);
    sqlite3_free(err);
    sqlite3_close(db);
    return rc != SQLITE_OK;
}

int main(void)
{
    int bad = run_lua() | run_zstd() | run_sqlite();
    printf("%s\n", bad ? "FAILED" : "all ok");
    return bad;
}
