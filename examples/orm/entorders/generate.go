// Package entorders is the ent recipe: the client generated from ./schema
// (go generate, pinned to ent v0.14.5), and Hook, which gives new orders an
// idgen ID.
package entorders

//go:generate go run -mod=mod entgo.io/ent/cmd/ent@v0.14.5 generate --target ./gen ./schema
