-- Databases and users of the compose stack. The mysql image runs this once,
-- when it initialises an empty data volume; later starts skip it.
--
-- courier             Courier's message mirror (schema: courier migrate)
-- temporal            Temporal's persistence  (schema: temporal-schema service)
-- temporal_visibility Temporal's visibility   (schema: temporal-schema service)
--
-- The passwords are for a local stack only; change them (here and in
-- docker-compose.yml) before the stack holds anything that matters.

CREATE DATABASE IF NOT EXISTS courier CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS temporal CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS temporal_visibility CHARACTER SET utf8mb4;

CREATE USER IF NOT EXISTS 'courier'@'%' IDENTIFIED BY 'courier';
GRANT ALL PRIVILEGES ON courier.* TO 'courier'@'%';

-- Temporal's schema tool creates and alters tables, so its user owns both of
-- its databases; it has no rights anywhere else.
CREATE USER IF NOT EXISTS 'temporal'@'%' IDENTIFIED BY 'temporal';
GRANT ALL PRIVILEGES ON temporal.* TO 'temporal'@'%';
GRANT ALL PRIVILEGES ON temporal_visibility.* TO 'temporal'@'%';
