package service

func (s *Service) workflowHandlers() map[string]Handler {
	return map[string]Handler{}
}
