package ipstest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Prefix chooses how responses spell the IPS namespace. Clients must match
// elements by namespace, never by prefix; the styles make sure they do.
type Prefix int

const (
	// PrefixDefault declares the namespace as the default namespace of the
	// return element and omits soapenv:Header.
	PrefixDefault Prefix = iota
	// PrefixNS1 uses ns1: on every element, an empty soapenv:Header and an
	// XML declaration, like Apache Axis.
	PrefixNS1
	// PrefixTNS uses tns:, declared on the Envelope, with an empty
	// soapenv:Header written as a start and end tag.
	PrefixTNS
	// PrefixRotate cycles through the three styles above, one per response.
	PrefixRotate
)

// ParsePrefix parses "default", "ns1", "tns" or "rotate".
func ParsePrefix(s string) (Prefix, error) {
	switch s {
	case "default", "xmlns":
		return PrefixDefault, nil
	case "ns1":
		return PrefixNS1, nil
	case "tns":
		return PrefixTNS, nil
	case "rotate":
		return PrefixRotate, nil
	}
	return 0, fmt.Errorf("unknown prefix style %q (want default, ns1, tns or rotate)", s)
}

// String returns the name ParsePrefix accepts.
func (p Prefix) String() string {
	switch p {
	case PrefixDefault:
		return "default"
	case PrefixNS1:
		return "ns1"
	case PrefixTNS:
		return "tns"
	case PrefixRotate:
		return "rotate"
	}
	return fmt.Sprintf("Prefix(%d)", int(p))
}

// Option configures a Handler or Server. Each option states the default it
// overrides.
type Option func(*config)

// WithCompany sets the company handle the simulator serves. Default "c|6".
// Asset and job handles embed the part after the last '|' ("6").
func WithCompany(handle string) Option { return func(c *config) { c.company = handle } }

// WithCredentials sets the IPS user and password the simulator accepts, in
// the authHeader or as HTTP Basic. Default "api@example.com" / "secret".
func WithCredentials(user, password string) Option {
	return func(c *config) { c.user, c.password = user, password }
}

// WithAccessToken makes the simulator also accept an authHeader carrying
// this accessToken instead of user and password. Default: no token is
// accepted.
func WithAccessToken(token string) Option { return func(c *config) { c.accessToken = token } }

// WithCatalog sets the size of the synthetic company: assets assets with
// entriesPerAsset base entries each. Default 10 assets × 5 entries. Nothing
// is stored, so 100,000 × 1,000 costs no memory. Zero is allowed for both.
func WithCatalog(assets, entriesPerAsset int) Option {
	return func(c *config) { c.assets, c.entries = assets, entriesPerAsset }
}

// WithSeed sets the seed of every synthetic choice (names, log types, dates,
// auxArray items, fault probabilities, background activity). Default 1.
// The same seed and clock give byte-identical responses.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithClock sets the clock the server reads for its start and for added
// activity. Default time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithPrefix sets the namespace prefix style of responses. Default
// PrefixDefault.
func WithPrefix(p Prefix) Option { return func(c *config) { c.prefix = p } }

// WithLatency adds d before every answer (also settable later with
// SetLatency). Default 0.
func WithLatency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// WithErrorRate answers the given fraction of calls (0..1, seeded) with HTTP
// 503 and "Retry-After: 1", like a gateway under load. Default 0.
func WithErrorRate(f float64) Option { return func(c *config) { c.errorRate = f } }

// WithAPIVersions restricts the accepted API versions (the <v> of
// http://www.scene7.com/IpsApi/xsd/<v>). Default: any version is accepted
// and the response uses the request's version.
func WithAPIVersions(versions ...string) Option {
	return func(c *config) { c.versions = append([]string(nil), versions...) }
}

// WithAssetHandlePrefix sets what asset handles start with; asset i's handle
// is the prefix followed by i in decimal. Default "a|<companyID>|1|", so
// asset 535 of c|6 is "a|6|1|535".
func WithAssetHandlePrefix(prefix string) Option {
	return func(c *config) { c.assetPrefix = prefix }
}

// WithLocation sets the time zone of the dateTime values in responses.
// Default a fixed -07:00 offset, as in Adobe's examples.
func WithLocation(loc *time.Location) Option { return func(c *config) { c.loc = loc } }

// WithLogger sets the logger for per-request debug lines (never containing
// credentials). Default: discard.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithSearchPageCap makes searchAssets return at most n assets per call
// whatever was asked, like a server with a lower cap than documented.
// Default 0: the documented caps, SearchPageMax and SearchPageMaxLean.
func WithSearchPageCap(n int) Option { return func(c *config) { c.searchPageCap = n } }

// WithMalformedEntries serves the first base entry of every n-th asset
// (assets n-1, 2n-1, ...) malformed: its logDate is "31/11/2026 25:61",
// which no client can parse, while the rest of the response is fine. Such
// entries carry Entry.Malformed. Default 0: none.
func WithMalformedEntries(n int) Option { return func(c *config) { c.malformedEvery = n } }

// WithEntryHook lets fn change each base entry of the catalog before it is
// served or listed (a huge logMessage, a date far ahead, Malformed). fn
// must be deterministic and safe for concurrent use: it runs on every
// call. Default: none.
func WithEntryHook(fn func(e *Entry)) Option { return func(c *config) { c.entryHook = fn } }

type config struct {
	entryHook      func(e *Entry)
	malformedEvery int
	searchPageCap  int
	company        string
	user           string
	password       string
	accessToken    string
	assets         int
	entries        int
	seed           uint64
	now            func() time.Time
	prefix         Prefix
	latency        time.Duration
	errorRate      float64
	versions       []string
	assetPrefix    string
	loc            *time.Location
	logger         *slog.Logger
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		company:  "c|6",
		user:     "api@example.com",
		password: "secret",
		assets:   10,
		entries:  5,
		seed:     1,
	}
	for _, o := range opts {
		o(c)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// setDefaults fills what is derived or must not be nil.
func (c *config) setDefaults() {
	if c.now == nil {
		c.now = time.Now
	}
	if c.loc == nil {
		c.loc = time.FixedZone("", -7*60*60)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.assetPrefix == "" {
		c.assetPrefix = "a|" + companyID(c.company) + "|1|"
	}
}

// Validate names the first invalid setting.
func (c *config) Validate() error {
	switch {
	case c.company == "" || strings.ContainsAny(c.company, "<>&"):
		return fmt.Errorf("company handle %q: must be non-empty plain text", c.company)
	case c.user == "":
		return errors.New("user: must not be empty")
	case c.malformedEvery < 0:
		return fmt.Errorf("malformed entries: every %d is negative", c.malformedEvery)
	case c.searchPageCap < 0:
		return fmt.Errorf("search page cap: %d is negative", c.searchPageCap)
	case c.assets < 0:
		return fmt.Errorf("assets: %d is negative", c.assets)
	case c.entries < 0:
		return fmt.Errorf("entries per asset: %d is negative", c.entries)
	case c.prefix < PrefixDefault || c.prefix > PrefixRotate:
		return fmt.Errorf("prefix: unknown style %d", int(c.prefix))
	case c.latency < 0:
		return fmt.Errorf("latency: %v is negative", c.latency)
	case !(c.errorRate >= 0 && c.errorRate <= 1):
		return fmt.Errorf("error rate: %v is outside [0,1]", c.errorRate)
	case strings.ContainsAny(c.assetPrefix, "<>&"):
		return fmt.Errorf("asset handle prefix %q: must be plain text", c.assetPrefix)
	}
	for _, v := range c.versions {
		if v == "" || strings.ContainsAny(v, "/ ") {
			return fmt.Errorf("API version %q: must be a non-empty path segment", v)
		}
	}
	return nil
}
