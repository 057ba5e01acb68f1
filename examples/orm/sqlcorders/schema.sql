CREATE TABLE orders (
  id     BIGINT PRIMARY KEY,
  parent BIGINT NULL,
  note   TEXT NOT NULL
);
