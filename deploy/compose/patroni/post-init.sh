#!/bin/sh
# Run once by Patroni on the member that initialises the cluster ($1: a superuser
# connection string). Creates what Sundial connects as; demo credentials, local only.
set -eu
psql -v ON_ERROR_STOP=1 "$1" <<'SQL'
create role sundial login password 'sundial';
create database sundial owner sundial;
SQL
