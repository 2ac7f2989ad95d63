package probe

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// listBrowsers is how many browsers the text report lists one by one;
// beyond it, only those that moved are listed.
const listBrowsers = 30

// wrapWidth is the width warnings are wrapped at, in characters.
const wrapWidth = 96

// barWidth is the width of the longest histogram bar, in characters.
const barWidth = 30

// WriteText writes the report for a person: the summary, the spread over
// targets as a histogram, each browser's journey, the cookies and the
// warnings, and last the verdict on a line of its own.
func (r *Report) WriteText(w io.Writer) {
	st := r.Stickiness
	fmt.Fprintf(w, "probe %s %s: %s × %d requests, target named by %s\n\n",
		r.Method, r.URL, plural(r.Browsers, "browser"), r.RequestsPerBrowser, r.TargetHeader)
	fmt.Fprintf(w, "  sticky browsers  %d of %d (%s)\n", st.StickyBrowsers, st.Browsers, pct(st.BrowserRate))
	fmt.Fprintf(w, "  kept requests    %d of %d (%s), %s\n", st.KeptRequests, st.Requests, pct(st.RequestRate), plural(st.Moves, "move"))
	fmt.Fprintf(w, "  failures         %s\n", r.failureLine())
	fmt.Fprintf(w, "  statuses         %s\n", r.statusLine())
	fmt.Fprintf(w, "  latency          p50 %s  p99 %s  max %s\n", fmtMS(r.Latency.P50), fmtMS(r.Latency.P99), fmtMS(r.Latency.Max))
	fmt.Fprintf(w, "  took             %s\n", fmtMS(r.DurationMS))
	r.writeSpread(w)
	r.writeBrowsers(w)
	r.writeCookies(w)
	if len(r.Warnings) > 0 {
		fmt.Fprintf(w, "\nwarnings\n")
		for _, wn := range r.Warnings {
			fmt.Fprintf(w, "  ! %s\n", wrap(wn.Message, wrapWidth, "    "))
		}
	}
	fmt.Fprintf(w, "\n%s\n", r.Verdict)
}

func (r *Report) failureLine() string {
	f := r.Failures
	if f.Total == 0 {
		return "none"
	}
	s := fmt.Sprintf("%d (%d transport, %d status ≥ 500)", f.Total, f.Transport, f.ServerError)
	kinds := make([]string, 0, len(f.Errors))
	for k := range f.Errors {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		s += fmt.Sprintf("\n                   %d × %s", f.Errors[k], k)
	}
	return s
}

func (r *Report) statusLine() string {
	if len(r.Statuses) == 0 {
		return "no response"
	}
	codes := make([]string, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s × %d", c, r.Statuses[c])
	}
	return strings.Join(parts, ", ")
}

// writeSpread draws how many browsers each target took first.
func (r *Report) writeSpread(w io.Writer) {
	if len(r.Targets) == 0 {
		return
	}
	fmt.Fprintf(w, "\nspread: browsers by the target of their first response\n")
	most, width := 0, 0
	for _, t := range r.Targets {
		most = max(most, t.Browsers)
		width = max(width, len(t.ID))
	}
	for _, t := range r.Targets {
		n := 0
		if most > 0 {
			n = (t.Browsers*barWidth + most - 1) / most
		}
		fmt.Fprintf(w, "  %-*s %-*s %3d %6s  (%s)\n", width, t.ID, barWidth, strings.Repeat("█", n),
			t.Browsers, pct(ratio(t.Browsers, r.Browsers)), plural(t.Requests, "request"))
	}
}

// writeBrowsers lists each browser's journey (only the ones that moved
// when there are many).
func (r *Report) writeBrowsers(w io.Writer) {
	all := len(r.PerBrowser) <= listBrowsers
	title := "browsers"
	if !all {
		title = "browsers that did not stay on one target"
	}
	fmt.Fprintf(w, "\n%s\n", title)
	listed := 0
	for _, b := range r.PerBrowser {
		if !all && b.Sticky {
			continue
		}
		listed++
		fmt.Fprintf(w, "  #%-4d %-10s %s\n", b.Browser, browserState(b), journey(b))
	}
	if listed == 0 {
		fmt.Fprintf(w, "  none\n")
	}
	if !all {
		fmt.Fprintf(w, "  (%d sticky browsers not listed; --json lists every browser)\n", len(r.PerBrowser)-listed)
	}
}

// journey draws a browser's path, "t1 → t2 → t1" (shortened when long),
// and its failures.
func journey(b BrowserResult) string {
	s := strings.Join(b.Path, " → ")
	switch {
	case len(b.Path) == 0:
		s = "(no target identified)"
	case len(b.Path) > 6:
		s = strings.Join(b.Path[:5], " → ") + " → … (" + strconv.Itoa(len(b.Path)-5) + " more)"
	}
	if b.Failures > 0 {
		s += ", " + plural(b.Failures, "failed request")
	}
	return s
}

// browserState says whether b stayed: "sticky", "3 moves", "unknown" (no
// target identified) or "unproven" (some responses unidentified).
func browserState(b BrowserResult) string {
	switch {
	case len(b.Path) == 0:
		return "unknown"
	case !b.Sticky && b.Moves == 0:
		return "unproven"
	case b.Moves > 0:
		return plural(b.Moves, "move")
	}
	return "sticky"
}

// writeCookies lists the cookies given, with their attributes.
func (r *Report) writeCookies(w io.Writer) {
	fmt.Fprintf(w, "\ncookies\n")
	if len(r.Cookies) == 0 {
		fmt.Fprintf(w, "  none set\n")
		return
	}
	for _, c := range r.Cookies {
		fmt.Fprintf(w, "  %s  set on %d of %d responses, to %s, %s\n", quoteName(c.Name), c.SetCount, c.Responses,
			plural(c.Browsers, "browser"), plural(c.DistinctValues, "distinct value"))
		fmt.Fprintf(w, "      %s\n", attributes(c.Cookie))
	}
}

// attributes renders a cookie's attributes as a browser sees them.
func attributes(c Cookie) string {
	var a []string
	flag := func(on bool, name string) {
		if on {
			a = append(a, name)
		} else {
			a = append(a, "no "+name)
		}
	}
	flag(c.Secure, "Secure")
	flag(c.HTTPOnly, "HttpOnly")
	switch c.SameSite {
	case "":
		a = append(a, "SameSite absent (Lax)")
	default:
		a = append(a, "SameSite="+c.SameSite)
	}
	if c.Path != "" {
		a = append(a, "Path="+c.Path)
	}
	if c.Domain != "" {
		a = append(a, "Domain="+c.Domain)
	}
	switch {
	case c.MaxAge != nil:
		a = append(a, "Max-Age="+strconv.Itoa(*c.MaxAge))
	case c.Expires != "":
		a = append(a, "Expires="+c.Expires)
	default:
		a = append(a, "session cookie (no Max-Age or Expires)")
	}
	if c.Partitioned {
		a = append(a, "Partitioned")
	}
	if c.Deletes {
		a = append(a, "deletes the cookie")
	}
	if c.Malformed {
		a = append(a, "malformed")
	}
	return strings.Join(a, "  ")
}

// fmtMS renders milliseconds with a precision that suits their size.
func fmtMS(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(v/1000, 'f', 2, 64) + "s"
}

// wrap breaks text into lines of at most width characters at spaces,
// starting each new line with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(text) {
		n := len([]rune(word))
		if i > 0 && line+1+n > width {
			b.WriteString("\n" + indent)
			line = len(indent)
		} else if i > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += n
	}
	return b.String()
}
