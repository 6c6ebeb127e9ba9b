output "repository_urls" {
  description = "Repository URL per repository name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "registry" {
  description = "Registry host of the repositories (for docker login and image names)."
  value       = split("/", values(aws_ecr_repository.this)[0].repository_url)[0]
}
