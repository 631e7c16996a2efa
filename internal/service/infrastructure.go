package service

func (s *Service) infrastructureHandlers() map[string]Handler {
	return map[string]Handler{}
}
