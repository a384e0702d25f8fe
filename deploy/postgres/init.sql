-- One database per service: no service reads another's.
CREATE DATABASE credo_profiles;
CREATE DATABASE credo_receivables;
CREATE DATABASE credo_scoring;
CREATE DATABASE credo_collections;
CREATE DATABASE credo_alerts;
