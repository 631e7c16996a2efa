package awsapi

import "fmt"

// Error is an API error as it goes on the wire: Code is the model's error
// shape name (the X-Amzn-ErrorType header and the body's __type), Message
// the human text.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes that are not Image Builder error shapes but that AWS JSON
// front ends answer with before a request reaches the service. Their HTTP
// statuses are the ones AWS uses across its JSON services.
const (
	ErrCodeMissingAuthenticationTokenException = "MissingAuthenticationTokenException"
	ErrCodeUnrecognizedClientException         = "UnrecognizedClientException"
	ErrCodeInvalidSignatureException           = "InvalidSignatureException"
	ErrCodeIncompleteSignatureException        = "IncompleteSignatureException"
	ErrCodeExpiredTokenException               = "ExpiredTokenException"
	ErrCodeSerializationException              = "SerializationException"
	ErrCodeUnknownOperationException           = "UnknownOperationException"
	// The front end's answers to a body that arrives too slowly, or while
	// too many large bodies are already being buffered (kiln's edge).
	ErrCodeRequestTimeoutException = "RequestTimeoutException"
	ErrCodeThrottlingException     = "ThrottlingException"
)

var frontEndStatus = map[string]int{
	ErrCodeMissingAuthenticationTokenException: 403,
	ErrCodeUnrecognizedClientException:         403,
	ErrCodeInvalidSignatureException:           403,
	ErrCodeIncompleteSignatureException:        400,
	ErrCodeExpiredTokenException:               403,
	ErrCodeSerializationException:              400,
	ErrCodeUnknownOperationException:           404,
	ErrCodeRequestTimeoutException:             400,
	ErrCodeThrottlingException:                 400,
}

// Status is the HTTP status code for e: the model's httpStatusCode for its
// error shape (ErrorStatus), else the front-end table above, else 400.
func (e *Error) Status() int {
	if s, ok := ErrorStatus[e.Code]; ok {
		return s
	}
	if s, ok := frontEndStatus[e.Code]; ok {
		return s
	}
	return 400
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalidValue is the InvalidParameterValueException AWS returns for a
// member that fails a constraint; the message shape follows the one the
// service is seen to send: "The value supplied for parameter 'x' is not
// valid. <why>".
func invalidValue(path, why string) *Error {
	return &Error{
		Code:    ErrCodeInvalidParameterValueException,
		Message: "The value supplied for parameter '" + path + "' is not valid. " + why,
	}
}

// DeclaredOr returns code when op declares it and fallback otherwise. Shared
// code paths use it for a fault some operations name in their errors list
// and others do not (ImportDiskImage declares no
// IdempotentParameterMismatchException, ImportVmImage no
// InvalidRequestException; both answer ClientException instead), so every
// operation answers only error types its model declares.
func (op *Operation) DeclaredOr(code, fallback string) string {
	if op == nil {
		return code
	}
	for _, e := range op.Errors {
		if e == code {
			return code
		}
	}
	return fallback
}
