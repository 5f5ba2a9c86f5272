# Independent R mmrm references for issue 17's engine features, on mmrm's own fev_data (the
# anchors' ../shared/anchors/mmrm/data/fev_data.csv, read as it is):
#
# - empirical covariances of the fixed effects (vcov "Empirical" = CR0, "Empirical-Jackknife"
#   = CR3, "Empirical-Bias-Reduced" = CR2) with mmrm's Satterthwaite df for them: the
#   coefficient table, the covariance matrix, and df_md F tests of each term's coefficients;
#   unweighted and weighted, for us(), ar1() and sp_exp();
# - Type II F tests (car::Anova on an mmrm fit: mmrm's Anova.mmrm, type "II") and LS means
#   with observed-margin weights (emmeans weights = "proportional", SAS's OM), us(), with
#   Satterthwaite and Kenward-Roger(-Linear) (mmrm:::Anova.mmrm: needs r-cran-car);
# - the spatial structures sp_exp and sp_gau (one and two coordinates), model-based
#   Satterthwaite, with the covariance parameters on SAS's scale (range a, Residual).
#
# Run from the repository root:
#   Rscript validation/make_mmrm_engine_references.R ../shared/anchors/mmrm/data/fev_data.csv
# writes tests/reference/mmrm_engine.json (~20 s).
#
# Needs R with mmrm (built from its public source, v0.3.18, github openpharma/mmrm, with
# Debian's r-cran-tmb r-cran-rcppeigen r-cran-checkmate r-cran-rdpack r-cran-stringr
# r-cran-generics r-cran-lifecycle r-cran-tibble) and jsonlite. mmrm warns that it was
# compiled with TMB < 1.9.15 (Debian bookworm has 1.9.2); the fits are unaffected.
#
# Every fit uses a tight optimiser (BFGS, reltol 1e-15): mmrm's default stops ~1e-4 relative
# from the optimum. Coefficient names are mmrm's; SEX's levels are put in the order Female,
# Male (xerotrial's reference level is the first in sorted order).

suppressPackageStartupMessages({
  library(mmrm)
  library(jsonlite)
  library(emmeans)
  library(car)
})

args <- commandArgs(trailingOnly = TRUE)
data_path <- if (length(args) >= 1) args[[1]] else "../shared/anchors/mmrm/data/fev_data.csv"
out_path <- if (length(args) >= 2) args[[2]] else "tests/reference/mmrm_engine.json"

fev <- read.csv(data_path, stringsAsFactors = FALSE)
fev$USUBJID <- factor(fev$USUBJID)
fev$AVISIT <- factor(fev$AVISIT, levels = c("VIS1", "VIS2", "VIS3", "VIS4"))
fev$ARMCD <- factor(fev$ARMCD, levels = c("PBO", "TRT"))
fev$RACE <- factor(fev$RACE, levels = c("Asian", "Black or African American", "White"))
fev$SEX <- factor(fev$SEX, levels = c("Female", "Male"))

FORMULA_RHS <- "RACE + SEX + ARMCD * AVISIT"

fit_with <- function(rhs, cov, method = "Satterthwaite", vcov = NULL, weighted = FALSE) {
  f <- as.formula(paste("FEV1 ~", rhs, "+", cov))
  run <- function(ctl) {
    if (weighted) {
      mmrm(f, data = fev, reml = TRUE, control = ctl, weights = fev$WEIGHT)
    } else {
      mmrm(f, data = fev, reml = TRUE, control = ctl)
    }
  }
  tight <- list(reltol = 1e-15, maxit = 5000)
  fit <- tryCatch(
    run(mmrm_control(method = method, vcov = vcov, optimizer = "BFGS",
                     optimizer_control = tight)),
    error = function(e) NULL
  )
  if (is.null(fit)) {
    # BFGS from mmrm's standard start fails for some spatial fits (a singular Hessian on
    # the way): start it from the default optimisers' optimum instead
    first <- run(mmrm_control(method = method, vcov = vcov))
    fit <- run(mmrm_control(method = method, vcov = vcov, optimizer = "BFGS",
                            optimizer_control = tight,
                            start = unname(component(first, "theta_est"))))
  }
  fit
}

coef_table <- function(fit) {
  s <- summary(fit)$coefficients
  lapply(seq_len(nrow(s)), function(i) list(
    term = rownames(s)[i], estimate = s[i, "Estimate"], se = s[i, "Std. Error"],
    df = s[i, "df"]
  ))
}

# the F test of each model term's coefficients (all columns whose name starts with the
# term's and, for a main effect, contain no ':'), by mmrm's df_md
term_tests <- function(fit, terms) {
  nm <- names(component(fit, "beta_est"))
  lapply(terms, function(term) {
    cols <- if (grepl(":", term, fixed = TRUE)) {
      parts <- strsplit(term, ":", fixed = TRUE)[[1]]
      which(grepl(":", nm, fixed = TRUE) & startsWith(nm, parts[1]))
    } else {
      which(startsWith(nm, term) & !grepl(":", nm, fixed = TRUE))
    }
    L <- matrix(0, length(cols), length(nm))
    L[cbind(seq_along(cols), cols)] <- 1
    t <- df_md(fit, L)
    list(term = term, columns = as.list(nm[cols]), num_df = t$num_df, den_df = t$denom_df,
         f = t$f_stat, p = t$p_val)
  })
}

empirical_case <- function(cov, vcov, weighted, rhs = FORMULA_RHS, terms = NULL) {
  cat(cov, vcov, weighted, "\n")
  fit <- fit_with(rhs, cov, "Satterthwaite", vcov, weighted)
  list(
    covariance = cov, vcov = vcov, weighted = weighted, formula = paste("FEV1 ~", rhs),
    deviance = deviance(fit), converged = component(fit, "convergence") == 0,
    fixed = coef_table(fit),
    beta_vcov = unname(component(fit, "beta_vcov")),
    model_beta_vcov = unname(fit$beta_vcov),
    tests = if (is.null(terms)) NULL else term_tests(fit, terms)
  )
}

TERMS <- c("RACE", "SEX", "ARMCD", "AVISIT", "ARMCD:AVISIT")
empirical <- list()
for (cov in c("us(AVISIT | USUBJID)", "ar1(AVISIT | USUBJID)",
              "sp_exp(VISITN, VISITN2 | USUBJID)")) {
  for (vcov in c("Empirical", "Empirical-Jackknife", "Empirical-Bias-Reduced")) {
    for (weighted in c(FALSE, TRUE)) {
      empirical[[length(empirical) + 1]] <- empirical_case(cov, vcov, weighted, terms = TERMS)
    }
  }
}

# spatial: mmrm's theta = (log sigma^2... ) is reported on SAS's scale. sp_exp: rho^d with
# rho = plogis(theta[2]): SAS's range a = -1 / log(rho); sp_gau: rho^(d^2): a = sqrt(-1/log rho)
spatial_case <- function(kind, coords, rhs, method = "Satterthwaite", vcov = NULL) {
  cov <- sprintf("%s(%s | USUBJID)", kind, paste(coords, collapse = ", "))
  fit <- fit_with(rhs, cov, method, vcov)
  theta <- component(fit, "theta_est")
  log_rho <- plogis(theta[2], log.p = TRUE)
  a <- if (kind == "sp_exp") -1 / log_rho else sqrt(-1 / log_rho)
  list(
    covariance = kind, coordinates = coords, formula = paste("FEV1 ~", rhs),
    method = method, vcov = if (is.null(vcov)) "Asymptotic" else vcov,
    deviance = deviance(fit), range = unname(a), residual = unname(exp(theta[1])),
    fixed = coef_table(fit)
  )
}
spatial <- list()
for (kind in c("sp_exp", "sp_gau")) {
  for (coords in list("VISITN", c("VISITN", "VISITN2"))) {
    spatial[[length(spatial) + 1]] <- spatial_case(kind, coords, "RACE + ARMCD * AVISIT")
  }
}

margins <- list()
for (method in c("Satterthwaite", "Kenward-Roger")) {
  vcov <- if (method == "Kenward-Roger") "Kenward-Roger-Linear" else NULL
  fit <- fit_with(FORMULA_RHS, "us(AVISIT | USUBJID)", method, vcov)
  # mmrm's car method, called directly: Debian's car 3.1-1 is older than the 3.1-2 that
  # mmrm registers it with (car::Anova would fall back to its default Wald chi-square)
  a <- as.data.frame(mmrm:::Anova.mmrm(fit, type = "II"))
  type2 <- lapply(seq_len(nrow(a)), function(i) list(
    term = rownames(a)[i], num_df = a[i, "Df"], den_df = a[i, "Res.Df"],
    f = a[i, "F"], p = a[i, "Pr(>F)"]
  ))
  lsm <- function(spec, weights) {
    em <- as.data.frame(summary(emmeans(fit, spec, weights = weights)))
    lapply(seq_len(nrow(em)), function(i) list(
      level = as.character(em[i, 1]), estimate = em$emmean[i], se = em$SE[i], df = em$df[i]
    ))
  }
  margins[[length(margins) + 1]] <- list(
    method = method, vcov = if (is.null(vcov)) "Asymptotic" else vcov,
    formula = paste("FEV1 ~", FORMULA_RHS), type2 = type2,
    lsmeans_armcd_proportional = lsm(~ARMCD, "proportional"),
    lsmeans_avisit_proportional = lsm(~AVISIT, "proportional"),
    lsmeans_armcd_equal = lsm(~ARMCD, "equal")
  )
}

out <- list(
  description = paste(
    "R mmrm references for xerotrial's empirical covariances and spatial structures",
    "(validation/make_mmrm_engine_references.R) on mmrm's fev_data."
  ),
  source = basename(data_path),
  r_version = R.version.string,
  packages = list(
    mmrm = as.character(packageVersion("mmrm")),
    TMB = as.character(packageVersion("TMB")),
    jsonlite = as.character(packageVersion("jsonlite")),
    emmeans = as.character(packageVersion("emmeans")),
    car = as.character(packageVersion("car"))
  ),
  empirical = empirical,
  spatial = spatial,
  margins = margins
)
dir.create(dirname(out_path), showWarnings = FALSE, recursive = TRUE)
write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("wrote", out_path, "\n")
