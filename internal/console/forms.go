package console

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// FormError is an API error shown on a form: its code and message, next
// to the field it names (Field "" shows it above the form).
type FormError struct {
	Field   string
	Code    string
	Message string
}

// memberInMessage finds the member an Image Builder error names: the
// model's checks and the service both say "parameter 'name'".
var memberInMessage = regexp.MustCompile(`parameter '([A-Za-z][A-Za-z0-9]*)`)

// formError turns err into a FormError whose Field is one of fields when
// the error names it. Codes that always concern one member map to it.
func formError(err error, fields ...string) *FormError {
	var apiErr *awsapi.Error
	if !errors.As(err, &apiErr) {
		return nil
	}
	fe := &FormError{Code: apiErr.Code, Message: apiErr.Message}
	field := ""
	if m := memberInMessage.FindStringSubmatch(apiErr.Message); m != nil {
		field = m[1]
	} else if apiErr.Code == awsapi.ErrCodeInvalidVersionNumberException {
		field = "semanticVersion"
	}
	for _, f := range fields {
		if f == field {
			fe.Field = f
		}
	}
	return fe
}

// On reports whether the error belongs to field (templates call it).
func (e *FormError) On(field string) bool { return e != nil && e.Field == field }

// clientToken is a fresh idempotency token for a create form: rendered
// into the form, so submitting the same page twice creates one resource.
func clientToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// formToken keeps a posted client token when it is well formed, else makes
// a new one.
func formToken(posted string) string {
	if len(posted) >= 8 && len(posted) <= 36 && strings.Trim(posted, "0123456789abcdef-") == "" {
		return posted
	}
	return clientToken()
}
