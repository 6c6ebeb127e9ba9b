variable "repositories" {
  description = "Repository names (one per image), e.g. railrush/auth-service."
  type        = set(string)
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the images."
  type        = string
}

variable "push_principal_arns" {
  description = "IAM principals allowed to push (the CD role); the account's principals can pull."
  type        = list(string)
}

variable "keep_images" {
  description = "Most recent images kept per repository."
  type        = number
  default     = 200
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
