package service

func (s *Service) pipelineHandlers() map[string]Handler {
	return map[string]Handler{}
}
