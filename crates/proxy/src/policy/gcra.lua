-- GCRA rate limiting, one decision per call, atomic because Redis runs a script as one command.
-- The same formula as flexgate-resilience's `Gcra::evaluate`, in microseconds of the Redis clock
-- (exact in a Lua double for centuries), so every gateway sharing this Redis uses one clock.
--
-- KEYS[1]  the key; its value is the theoretical arrival time (TAT), in microseconds
-- ARGV[1]  the emission interval T, in microseconds (at least 1)
-- ARGV[2]  the tolerance tau = T * (capacity - 1), in microseconds
--
-- Returns {allowed (1 or 0), remaining, reset_after_us, retry_after_us}.

-- Redis before 5 replicates scripts verbatim and refuses writes after a non-deterministic command
-- such as TIME unless the script asks for its effects to be replicated instead; later versions
-- always do that, and keep this call as a no-op.
if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])

-- A missing key (never seen, or expired) is a TAT of now: a full burst is available.
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local ahead = tat - now

if ahead > tolerance then
  -- Limited: nothing is written, so a flood of rejected requests costs no writes.
  return {0, 0, ahead, ahead - tolerance}
end

local new_tat = tat + interval
local reset_after = new_tat - now
-- The key expires when its TAT is reached: from then on a missing key means the same as the
-- stored one, so memory holds only keys that are actually limiting. '%.0f' keeps every digit
-- (tostring would switch to exponent notation and lose precision).
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(reset_after / 1000))
return {1, math.floor((tolerance - ahead) / interval), reset_after, 0}
