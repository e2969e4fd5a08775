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
    -- Any user's job: over a 10 s run most of these are first reads of a job (misses).
    -- (A junk query string no longer forces a miss: it is a 400, issue 15.)
    local i = pick(#tokens)
    return get("/api/v1/jobs/" .. jobs[i] .. "/", tokens[i])
  end
  return create(tokens[pick(#tokens)])
end
