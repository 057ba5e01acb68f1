package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Timers due at the same instant fire in the order they were armed: a
// Reset counts as arming anew.
func TestFakeTiesFireInArmingOrder(t *testing.T) {
	f := NewFake(time.Time{})
	a := f.NewTimer(time.Second).(*fakeTimer)
	b := f.NewTimer(time.Second).(*fakeTimer)
	c := f.NewTimer(2 * time.Second).(*fakeTimer)
	f.mu.Lock()
	assert.Same(t, a, f.next(time.Hour))
	f.mu.Unlock()

	a.Reset(time.Second)
	f.mu.Lock()
	assert.Same(t, b, f.next(time.Hour), "a was armed again after b")
	assert.Nil(t, f.next(999*time.Millisecond), "nothing due before 1s")
	f.mu.Unlock()

	f.Advance(time.Second)
	f.mu.Lock()
	assert.Equal(t, []*fakeTimer{c}, f.armed)
	f.mu.Unlock()
}
