package serve

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// Any client stream: reading the first request never panics, and the
// filter gives back the stream itself, or the stream less one SETTINGS
// acknowledgement that starts on a frame boundary, read in one go or a
// byte at a time alike.
func FuzzSplit(f *testing.F) {
	ack := []byte{0, 0, 0, 4, 1, 0, 0, 0, 0}
	ping := []byte{0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	pre := []byte(http2.ClientPreface)
	f.Add(pre)
	f.Add(append(append([]byte{}, pre...), ack...))
	f.Add(append(append(append([]byte{}, pre...), ping...), ack...))
	f.Add(append(append(append([]byte{}, pre...), ack[:5]...), 0, 0, 0, 1))       // an ACK on stream 1
	f.Add(append(append(append([]byte{}, pre...), 0, 0, 1, 4, 1, 0, 0, 0, 0), 7)) // an ACK with a payload
	f.Add(append(append([]byte{}, pre...), 0, 0, 5, 1, 4, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 0x8a))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = firstRequestIsGRPC(bytes.NewReader(data))

		if len(data) < len(pre) {
			return
		}
		whole, err := io.ReadAll(&ackFilter{r: bytes.NewReader(data), pass: len(pre)})
		require.NoError(t, err)
		bytewise, err := io.ReadAll(iotest.OneByteReader(&ackFilter{r: iotest.OneByteReader(bytes.NewReader(data)), pass: len(pre)}))
		require.NoError(t, err)
		require.Equal(t, whole, bytewise)
		if len(whole) == len(data) {
			require.Equal(t, data, whole)
			return
		}
		// Exactly one 9-byte ACK went, at a frame boundary: length 0, type
		// SETTINGS, the ACK flag (other flags ignored), stream 0 (the
		// reserved bit ignored), as the HTTP/2 spec reads a frame header.
		require.Len(t, whole, len(data)-9)
		isAck := func(h []byte) bool {
			return h[0] == 0 && h[1] == 0 && h[2] == 0 && h[3] == 4 && h[4]&1 == 1 &&
				h[5]&0x7f == 0 && h[6] == 0 && h[7] == 0 && h[8] == 0
		}
		at := len(pre)
		for !isAck(data[at : at+9]) {
			length := int(data[at])<<16 | int(data[at+1])<<8 | int(data[at+2])
			at += 9 + length
			require.LessOrEqual(t, at+9, len(data), "the removed bytes are not at a frame boundary")
		}
		require.Equal(t, append(append([]byte{}, data[:at]...), data[at+9:]...), whole)
	})
}
