-- Run once by the postgres image on an empty volume (docker-entrypoint-initdb.d): a second database for
-- `docker compose -f deploy/compose.yaml run --rm tests`, so test schemas never land in the engine's.
CREATE DATABASE dream_test OWNER dream;
