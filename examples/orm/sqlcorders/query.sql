-- name: CreateOrder :exec
INSERT INTO orders (id, parent, note) VALUES ($1, $2, $3);

-- name: GetOrder :one
SELECT id, parent, note FROM orders WHERE id = $1;
