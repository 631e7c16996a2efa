package ecr

// ECR's error codes (the __type and X-Amzn-ErrorType of an error answer).
// They are ECR's own, not Image Builder's, so they are spelled here rather
// than taken from awsapi; a typo is then a compile error, not a code no
// client recognises.
const (
	errCodeAccessDenied             = "AccessDeniedException"
	errCodeImageNotFound            = "ImageNotFoundException"
	errCodeInvalidParameter         = "InvalidParameterException"
	errCodeInvalidTagParameter      = "InvalidTagParameterException"
	errCodeRepositoryAlreadyExists  = "RepositoryAlreadyExistsException"
	errCodeRepositoryNotEmpty       = "RepositoryNotEmptyException"
	errCodeRepositoryNotFound       = "RepositoryNotFoundException"
	errCodeRepositoryPolicyNotFound = "RepositoryPolicyNotFoundException"
	errCodeSerialization            = "SerializationException"
	errCodeServer                   = "ServerException"
	errCodeTooManyTags              = "TooManyTagsException"
	errCodeUnknownOperation         = "UnknownOperationException"
)
