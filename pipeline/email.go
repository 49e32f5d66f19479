package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// UserEmail modes for submitUserEmail, which is personal data.
const (
	UserEmailKeep = "keep" // write it as IPS reported it
	UserEmailHash = "hash" // write "hmac-sha256:" + hex(HMAC-SHA-256(key, email)); empty stays empty
	UserEmailDrop = "drop" // write an empty string
)

// WithUserEmail returns an Encoder that applies mode to submitUserEmail
// before enc encodes the entry. The entry passed to Encode is not
// modified, and the event id does not depend on the e-mail, so changing the
// mode never changes ids. key is required for UserEmailHash.
func WithUserEmail(enc Encoder, mode string, key []byte) (Encoder, error) {
	switch mode {
	case UserEmailKeep, "":
		return enc, nil
	case UserEmailDrop:
		return &emailEncoder{Encoder: enc, rewrite: func(string) string { return "" }}, nil
	case UserEmailHash:
		if len(key) == 0 {
			return nil, fmt.Errorf("user e-mail mode %q needs a key", mode)
		}
		k := append([]byte(nil), key...)
		return &emailEncoder{Encoder: enc, rewrite: func(email string) string {
			if email == "" {
				return ""
			}
			m := hmac.New(sha256.New, k)
			m.Write([]byte(email))
			return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
		}}, nil
	}
	return nil, fmt.Errorf("user e-mail mode %q is not one of keep, hash, drop", mode)
}

type emailEncoder struct {
	Encoder
	rewrite func(string) string
}

func (e *emailEncoder) Encode(dst []byte, entry *AssetJobLog) ([]byte, error) {
	c := *entry
	c.SubmitUserEmail = e.rewrite(entry.SubmitUserEmail)
	return e.Encoder.Encode(dst, &c)
}
