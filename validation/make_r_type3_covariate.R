# Type III tests with a factor x covariate interaction (covariate not centred), lmerTest.
# Run from the repository root: Rscript validation/make_r_type3_covariate.R
# Writes tests/reference/r_type3_covariate.json. SAS holds covariates at zero in Type 3
# hypotheses; lmerTest's type 3 (contr.sum coding) does the same.
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
d <- read.csv("tests/reference/data/trial_like.csv")
d$visit <- factor(d$visit, levels = c("day0", "day1", "day5", "day30", "day120"))
d$arm <- factor(d$arm)
fit <- lmer(y ~ arm * base + visit + (1 | subject), data = d, REML = TRUE)
out <- list()
for (ddf in c("Satterthwaite", "Kenward-Roger")) {
  a <- anova(fit, type = 3, ddf = ddf)
  out[[ddf]] <- data.frame(term = rownames(a), NumDF = a$NumDF, DenDF = a$DenDF,
                           F = a[["F value"]], p = a[["Pr(>F)"]])
}
out$formula <- "y ~ arm * base + visit"
out$versions <- list(R = R.version.string, lmerTest = as.character(packageVersion("lmerTest")),
                     pbkrtest = as.character(packageVersion("pbkrtest")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/r_type3_covariate.json")
