package client

import (
	"errors"
	"testing"
)

func TestErrorMatchesItsCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  *Error
		want error
	}{
		{&Error{Status: 409, Code: "conflict"}, ErrConflict},
		{&Error{Status: 409, Code: "id_conflict"}, ErrIDConflict},
		{&Error{Status: 404, Code: "not_found"}, ErrNotFound},
		{&Error{Status: 400, Code: "invalid_json"}, ErrInvalid},
		{&Error{Status: 503, Code: "unavailable"}, ErrUnavailable},
		{&Error{Status: 502}, ErrUnavailable},
		{&Error{Err: errors.New("connection refused")}, ErrUnavailable},
		{&Error{Status: 500, Code: "internal"}, ErrInternal},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%v is not %v", tc.err, tc.want)
		}
		if tc.want != ErrConflict && errors.Is(tc.err, ErrConflict) {
			t.Errorf("%v matches ErrConflict too", tc.err)
		}
	}
}
