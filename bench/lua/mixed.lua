dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
-- 80 % reads of hot users' lists and jobs (cached), 15 % detail reads spread over
-- every user (mostly cache misses), 5 % creates by any user.
request = function()
  local r = math.random(100)
  if r <= 40 then
    return get("/api/v1/jobs/?page_size=50", tokens[pick(hot)])
  elseif r <= 80 then
    local i = pick(hot)
    return get("/api/v1/jobs/" .. jobs[i] .. "/", tokens[i])
  elseif r <= 95 then
    -- A distinct query string per request: a guaranteed cache miss.
    local i = pick(#tokens)
    return get("/api/v1/jobs/" .. jobs[i] .. "/?miss=" .. thread_id .. "-" .. counter, tokens[i])
  end
  return create(tokens[pick(#tokens)])
end
