package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/testsupport"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // a substring of the error; "" for none
	}{
		{"zero", Options{}, ""},
		{"plain", Options{Table: "sessions"}, ""},
		{"underscore digits", Options{Table: "_app_sessions_2"}, ""},
		{"reserved word", Options{Table: "user"}, ""},
		{"longest", Options{Table: strings.Repeat("s", maxTableLen)}, ""},
		{"too long", Options{Table: strings.Repeat("s", maxTableLen+1)}, "longer than"},
		{"leading digit", Options{Table: "1sessions"}, "Table"},
		{"upper case", Options{Table: "Sessions"}, "Table"},
		{"hyphen", Options{Table: "app-sessions"}, "Table"},
		{"space", Options{Table: "app sessions"}, "Table"},
		{"quote", Options{Table: `s"; DROP TABLE users; --`}, "Table"},
		{"schema qualified", Options{Table: "public.sessions"}, "Table"},
		{"non-ASCII", Options{Table: "sitzungsdäten"}, "Table"},
		{"NUL", Options{Table: "s\x00"}, "Table"},
		{"negative batch", Options{SweepBatch: -1}, "SweepBatch"},
		{"negative interval disables", Options{SweepInterval: -time.Second}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Options{Table: "Bad-Name", SweepBatch: -5}.Validate()
	if err == nil || !strings.Contains(err.Error(), "Table") || !strings.Contains(err.Error(), "SweepBatch") {
		t.Fatalf("Validate() = %v, want errors for both Table and SweepBatch", err)
	}
}

// TestOpenRejectsBadTable checks that a bad table name is refused before
// any connection is made: the DSN points nowhere.
func TestOpenRejectsBadTable(t *testing.T) {
	dsn := "postgres://u@" + testsupport.DeadAddress(t) + "/db"
	s, err := Open(context.Background(), dsn, Options{Table: "x; DROP TABLE y"})
	if err == nil {
		s.Close()
		t.Fatal("Open accepted the table name `x; DROP TABLE y`")
	}
	if !strings.Contains(err.Error(), "Table") {
		t.Fatalf("Open error = %v, want one about Table", err)
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	const secret = "s3cr3t-pa55"
	addr := testsupport.DeadAddress(t)
	tests := []struct{ name, dsn string }{
		{"URL, unreachable", "postgres://u:" + secret + "@" + addr + "/db?connect_timeout=2"},
		{"keywords, unreachable", "host=127.0.0.1 port=" + addr[strings.LastIndex(addr, ":")+1:] + " user=u password=" + secret + " dbname=db connect_timeout=2"},
		{"URL, malformed", "postgres://u:" + secret + "@[::1/db"},
		{"URL, bad port", "postgres://u:" + secret + "@127.0.0.1:99999x/db"},
		{"keywords, malformed", "host=127.0.0.1 password=" + secret + " sslmode=bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := Open(ctx, tt.dsn, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
