package service

func (s *Service) lifecycleHandlers() map[string]Handler {
	return map[string]Handler{}
}
