package service

func (s *Service) distributionHandlers() map[string]Handler {
	return map[string]Handler{}
}
