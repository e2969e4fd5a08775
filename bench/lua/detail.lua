dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
request = function()
  local i = pick(hot)
  return get("/api/v1/jobs/" .. jobs[i] .. "/", tokens[i])
end
