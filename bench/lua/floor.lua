dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
request = function() return wrk.format("GET", "/api/v1/ping/") end
