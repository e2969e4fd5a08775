dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
-- The same few users over and over: after the first request each is a cache hit.
request = function() return get("/api/v1/jobs/?page_size=50", tokens[pick(hot)]) end
