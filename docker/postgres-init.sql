-- Runs once, when the PostgreSQL container initializes an empty data volume
-- (docker-entrypoint-initdb.d), as the database owner. It creates the NOLOGIN
-- roles audit-chain's migrations grant to (with their default names; the
-- migrations find them and go on) and a login for the API that is a member of
-- the writer and admin roles only: the API can insert audit rows and read, and
-- nothing else. Change the password (ALTER ROLE audit_api PASSWORD ...) and
-- set API_DATABASE_PASSWORD in compose accordingly.
CREATE ROLE audit_chain_writer NOLOGIN;
CREATE ROLE audit_chain_sealer NOLOGIN;
CREATE ROLE audit_chain_admin NOLOGIN;
CREATE ROLE audit_chain_retention NOLOGIN;
CREATE ROLE audit_chain_redactor NOLOGIN;
CREATE ROLE audit_chain_signer NOLOGIN;
CREATE ROLE audit_api LOGIN PASSWORD 'audit-api-change-me' IN ROLE audit_chain_writer, audit_chain_admin;
