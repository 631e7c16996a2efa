package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "go.yaml.in/yaml/v3"
	_ "modernc.org/sqlite"
)
