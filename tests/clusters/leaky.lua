-- leaky.lua: a service that prints secrets in every form reports must hide,
-- for tests/lua/core_redact.lua. Its log gets one line per form, each
-- starting with a "leak-" word that must stay; then it runs podsvc. Its
-- readiness command prints more of them on stderr and exits ${READY_EXIT}:
-- 1 and the bring-up fails quoting that output and the log, 0 and it is up.
-- The secrets the file sets itself (an env password, the postgres DSN's
-- password, the url's) are printed as bare words too.
local podsvc = "${ROOT}/../../${BUILD}/fixtures/podsvc"
local ENV_PASSWORD = "envpw-7731"
local PG_PASSWORD = "pgpw-7731"
local URL_PASSWORD = "urlpw-7731"

local FORMS = table.concat({
  "leak-dsn postgresql://app:dsnpw-7731@db:5432/app",
  "leak-cookie Cookie: sid=cookie-7731",
  'leak-luacookie headers = {Cookie = "luacookie-7731", Accept = "json"}',
  "leak-auth Authorization: Bearer authtok-7731",
  "leak-bearer got Bearer lettersonlytoken",
  "leak-kv host=db password=kvpw-7731 user=app",
  "leak-redis redis://:redispw-7731@cache:6379/0",
  "leak-amqp amqp://mq:amqppw-7731@mq/vh",
  "leak-upper AUTHORIZATION=Basic upperauth-7731",
  "leak-lower authorization: lowerauth-7731",
  'leak-json {"Password": "jsonpw-7731", "API_KEY": "jsonkey-7731", "name": "app"}',
  "leak-env " .. ENV_PASSWORD .. " as a bare word",
  "leak-pg " .. PG_PASSWORD .. " as a bare word",
  "leak-url " .. URL_PASSWORD .. " as a bare word",
}, "\n")

local PROBE = "probe-dsn postgresql://app:probepw-7731@db/app probe-env " .. ENV_PASSWORD ..
  " probe-pg " .. PG_PASSWORD .. " probe-end Cookie: sid=probecookie-7731"

return {
  name = "leaky-${TAG}",
  postgres = "postgresql://app:" .. PG_PASSWORD .. "@127.0.0.1:9/app",
  services = {
    { name = "leaky",
      cmd = { "/bin/sh", "-c", 'printf "%s\\n" "$LEAK_FORMS"; exec "$0" --name "$1"',
              podsvc, "leaky-${TAG}" },
      env = { DB_PASSWORD = ENV_PASSWORD, LEAK_FORMS = FORMS },
      url = "http://probe:" .. URL_PASSWORD .. "@127.0.0.1:9",
      ready = { cmd = { "/bin/sh", "-c", 'printf "%s\\n" "$0" >&2; exit ${READY_EXIT}', PROBE },
                timeout = 2 } },
  },
}
