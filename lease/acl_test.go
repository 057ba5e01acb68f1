package lease_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/lease"
)

// The names are what Redis holds: a change would strand every namespace
// already in use, so they are pinned here.
func TestKeysOf(t *testing.T) {
	t.Parallel()
	k := lease.KeysOf("orders")
	assert.Equal(t, "{orders}", k.Tag())
	assert.Equal(t, "{orders}:*", k.Pattern())
	assert.Equal(t, "{orders}:meta", k.Meta())
	assert.Equal(t, "{orders}:epoch", k.Epoch())
	assert.Equal(t, "{orders}:hwm", k.HWM())
	assert.Equal(t, "{orders}:lease:", k.LeasePrefix())
	assert.Equal(t, "{orders}:lease:1023", k.Lease(1023))
}

// Every call in the ACL table names only the namespace's keys, so the one
// key pattern of the ACL SETUSER line covers it, and names its command.
func TestACLCallsStayInTheNamespace(t *testing.T) {
	t.Parallel()
	k := lease.KeysOf("orders")
	seen := map[string]bool{}
	for _, n := range k.ACL() {
		assert.False(t, seen[n.Command], "%s listed twice", n.Command)
		seen[n.Command] = true
		assert.NotEmpty(t, n.Why, n.Command)
		require.NotEmpty(t, n.Calls, n.Command)
		for _, call := range n.Calls {
			assert.Equal(t, n.Command, call[0])
			for _, a := range call[1:] {
				if strings.Contains(a, "{") {
					assert.True(t, strings.HasPrefix(a, k.Tag()+":"), "%v names %s outside the namespace", call, a)
				}
			}
		}
	}
}

// The ACL SETUSER line in docs/operations.md allows exactly the commands of
// the table, in its order, on the namespace's key pattern.
func TestACLLineInOperationsDoc(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/operations.md")
	require.NoError(t, err)
	text := string(doc)
	i := strings.Index(text, "ACL SETUSER idgen ")
	require.GreaterOrEqual(t, i, 0, "docs/operations.md has no ACL SETUSER idgen line")
	line := text[i:]
	line = line[:strings.Index(line, "```")]
	got := strings.Fields(strings.ReplaceAll(line, "\\\n", " "))

	k := lease.KeysOf("orders")
	want := []string{"ACL", "SETUSER", "idgen", "on", ">PASSWORD", "resetkeys", "~" + k.Pattern(), "resetchannels", "-@all"}
	for _, n := range k.ACL() {
		want = append(want, "+"+n.Command)
	}
	assert.Equal(t, want, got, "the ACL line of docs/operations.md against lease.Keys.ACL")
}
