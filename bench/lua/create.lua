dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
request = function() return create(tokens[pick(#tokens)]) end
