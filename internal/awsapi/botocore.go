package awsapi

import _ "embed"

// BotocoreModel is the Image Builder model kiln is generated from (the
// v1.55.7 api-2.json with gen/overlay.json merged in), in botocore's
// service-2.json format. Placed at
// AWS_DATA_PATH/imagebuilder/2019-12-02/service-2.json it teaches an older
// AWS CLI or boto3 the operations and members kiln answers.
//
//go:embed botocore_gen.json
var BotocoreModel []byte
