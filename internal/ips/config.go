package ips

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultAPIVersion       = "2014-04-03"
	DefaultLocale           = "en-US"
	DefaultAppName          = "assetjoblog-producer"
	DefaultAppVersion       = "1.0"
	DefaultMaxResponseBytes = 64 << 20
	DefaultHTTPTimeout      = 2 * time.Minute
	// MaxDetailPageSize is the largest recordsPerPage getJobLogDetails
	// accepts; it is also the default DetailPageSize.
	MaxDetailPageSize = 1000
)

// regions maps Config.Region presets to IPS endpoints.
var regions = map[string]string{
	"na":           "https://s7sps1apissl.scene7.com/scene7/services/IpsApiService",
	"emea":         "https://s7sps3apissl.scene7.com/scene7/services/IpsApiService",
	"apac":         "https://s7sps5apissl.scene7.com/scene7/services/IpsApiService",
	"na-staging":   "https://s7sps1apissl-staging.scene7.com/scene7/services/IpsApiService",
	"emea-staging": "https://s7sps3apissl-staging.scene7.com/scene7/services/IpsApiService",
	"apac-staging": "https://s7sps5apissl-staging.scene7.com/scene7/services/IpsApiService",
}

// Regions returns the names accepted by Config.Region, sorted.
func Regions() []string {
	names := make([]string, 0, len(regions))
	for name := range regions {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// RegionURL returns the IPS endpoint of a Config.Region preset and whether
// the region is known.
func RegionURL(region string) (string, bool) {
	u, ok := regions[region]
	return u, ok
}

// Config configures a Client. The zero value of every field but the endpoint
// and the credentials is usable: New applies the documented defaults.
//
// Password and AccessToken are secrets: Config's String, GoString and
// LogValue redact them, so printing a Config with any fmt verb or logging it
// with log/slog does not reveal them.
type Config struct {
	// URL is the full endpoint URL, e.g.
	// https://s7sps1apissl.scene7.com/scene7/services/IpsApiService.
	// Exactly one of URL and Region must be set.
	URL string
	// Region selects a production or staging endpoint by name: "na",
	// "emea", "apac", "na-staging", "emea-staging", "apac-staging".
	Region string

	// User is the IPS user's e-mail. Required with Password; optional
	// with AccessToken.
	User string
	// Password is the IPS user's password. Exactly one of Password and
	// AccessToken must be set.
	Password string
	// AccessToken is sent instead of Password when set.
	AccessToken string

	// APIVersion selects the versioned request namespace
	// http://www.scene7.com/IpsApi/xsd/<APIVersion>. Default "2014-04-03".
	APIVersion string
	// Locale localises the logMessage IPS returns. Default "en-US".
	Locale string
	// AppName identifies the caller to IPS (authHeader appName and the
	// User-Agent). Default "assetjoblog-producer".
	AppName string
	// AppVersion is sent as authHeader appVersion. Default "1.0".
	AppVersion string

	// HTTPClient sends the requests. Default: a client with a 2 minute
	// timeout on a clone of http.DefaultTransport (TLS verification on).
	HTTPClient *http.Client
	// MaxResponseBytes bounds the size of a response body after gzip
	// decoding; a larger body fails with ErrResponseTooLarge.
	// Default 64 MiB.
	MaxResponseBytes int64
	// DetailPageSize is the recordsPerPage JobAssets asks getJobLogDetails
	// for, 1 to 1000. Default 1000.
	DetailPageSize int

	// Observer, when not nil, is called after every SOAP call with the
	// operation name (e.g. "getAssetJobLogs"), the call's duration and the
	// error the call returns (nil on success), so that the caller can
	// record metrics. It must be safe for concurrent use and must not
	// block. Default nil: no hook.
	Observer func(operation string, d time.Duration, err error)
}

// setDefaults fills the zero fields with their documented defaults.
func (c *Config) setDefaults() {
	if c.APIVersion == "" {
		c.APIVersion = DefaultAPIVersion
	}
	if c.Locale == "" {
		c.Locale = DefaultLocale
	}
	if c.AppName == "" {
		c.AppName = DefaultAppName
	}
	if c.AppVersion == "" {
		c.AppVersion = DefaultAppVersion
	}
	if c.HTTPClient == nil {
		var rt http.RoundTripper = http.DefaultTransport
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			rt = t.Clone()
		}
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout, Transport: rt}
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.DetailPageSize == 0 {
		c.DetailPageSize = MaxDetailPageSize
	}
}

// Validate reports the first invalid field of c, naming it. It does not
// apply defaults: zero fields that have a default are accepted.
func (c Config) Validate() error {
	switch {
	case c.URL != "" && c.Region != "":
		return errors.New("ips config: set URL or Region, not both")
	case c.URL == "" && c.Region == "":
		return errors.New("ips config: URL or Region is required")
	case c.Region != "":
		if _, ok := regions[c.Region]; !ok {
			return fmt.Errorf("ips config: Region %q is unknown (known: %s)", c.Region, strings.Join(Regions(), ", "))
		}
	default:
		u, err := url.Parse(c.URL)
		if err != nil {
			// url.Error quotes the URL, which may hold userinfo.
			return errors.New("ips config: URL is not a valid URL")
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return fmt.Errorf("ips config: URL scheme must be https or http, got %q", u.Scheme)
		}
		if u.Host == "" {
			return errors.New("ips config: URL has no host")
		}
		if u.User != nil {
			return errors.New("ips config: URL must not carry credentials; use User and Password")
		}
	}
	switch {
	case c.Password != "" && c.AccessToken != "":
		return errors.New("ips config: set Password or AccessToken, not both")
	case c.Password == "" && c.AccessToken == "":
		return errors.New("ips config: Password or AccessToken is required")
	case c.Password != "" && c.User == "":
		return errors.New("ips config: User is required with Password")
	}
	if strings.ContainsAny(c.APIVersion, " \t\r\n/\"<>&'") {
		return fmt.Errorf("ips config: APIVersion %q is not a version such as %q", c.APIVersion, DefaultAPIVersion)
	}
	if c.MaxResponseBytes < 0 {
		return fmt.Errorf("ips config: MaxResponseBytes must not be negative, got %d", c.MaxResponseBytes)
	}
	if c.DetailPageSize < 0 || c.DetailPageSize > MaxDetailPageSize {
		return fmt.Errorf("ips config: DetailPageSize must be 1 to %d, got %d", MaxDetailPageSize, c.DetailPageSize)
	}
	return nil
}

// endpoint returns the URL the client posts to; c must be valid.
func (c Config) endpoint() string {
	if c.URL != "" {
		return c.URL
	}
	return regions[c.Region]
}

const redacted = "[REDACTED]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// String describes c with Password and AccessToken redacted. It also serves
// the %v and %+v verbs.
func (c Config) String() string {
	return fmt.Sprintf("ips.Config{URL:%q Region:%q User:%q Password:%q AccessToken:%q APIVersion:%q Locale:%q AppName:%q AppVersion:%q MaxResponseBytes:%d DetailPageSize:%d Observer:%t}",
		c.URL, c.Region, c.User, redact(c.Password), redact(c.AccessToken), c.APIVersion, c.Locale,
		c.AppName, c.AppVersion, c.MaxResponseBytes, c.DetailPageSize, c.Observer != nil)
}

// GoString serves the %#v verb, with the secrets redacted.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer, with the secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.String("region", c.Region),
		slog.String("user", c.User),
		slog.String("password", redact(c.Password)),
		slog.String("access_token", redact(c.AccessToken)),
		slog.String("api_version", c.APIVersion),
		slog.String("locale", c.Locale),
		slog.String("app_name", c.AppName),
		slog.String("app_version", c.AppVersion),
		slog.Int64("max_response_bytes", c.MaxResponseBytes),
		slog.Int("detail_page_size", c.DetailPageSize),
	)
}
