# make_r_references.R -- independent R reference values for xerotrial's mixed-model engine.
#
# How to run (from the repository root):
#     Rscript validation/make_r_references.R
#
# Needs R with Debian's packages: r-base-core r-cran-lme4 r-cran-lmertest r-cran-pbkrtest
# r-cran-emmeans r-cran-nlme r-cran-glmmtmb r-cran-jsonlite.
#
# Writes:
#   tests/reference/data/trial_like.csv       (generated, set.seed(20261125))
#   tests/reference/data/orthodont_unbal.csv  (nlme::Orthodont minus 8 rows, set.seed(20261126))
#   tests/reference/r_mixed.json              (one object per case, plus "_meta")
#
# All models are fitted to the data *as read back from the CSV files*, so the Python side sees
# exactly the numbers R used.  Rows with missing y stay in the CSV (empty field) and are dropped
# before fitting (complete cases), as SAS PROC MIXED does.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(emmeans)
  library(nlme)
  library(glmmTMB)
  library(jsonlite)
  library(numDeriv)
})
options(digits = 15, contrasts = c("contr.treatment", "contr.poly"))
emm_options(lmerTest.limit = 1e6, pbkrtest.limit = 1e6)

out_dir  <- file.path("tests", "reference")
data_dir <- file.path(out_dir, "data")
dir.create(data_dir, recursive = TRUE, showWarnings = FALSE)

# ------------------------------------------------------------------------------------------
# 1. Data sets
# ------------------------------------------------------------------------------------------
VISITS <- c("day0", "day1", "day5", "day30", "day120")
DAYS   <- c(0, 1, 5, 30, 120)

make_trial_like <- function() {
  set.seed(20261125)
  nsub <- 12
  subject <- sprintf("S%02d", seq_len(nsub))
  arm <- rep(c("A", "B"), each = nsub / 2)
  base <- round(rnorm(nsub, 50, 8), 1)
  b0 <- rnorm(nsub, 0, 3)                       # random intercept, SD 3
  sd_v <- c(2.0, 2.5, 3.0, 3.5, 4.5)            # heterogeneous residual SD by visit
  rho <- 0.6                                    # AR(1) correlation over visit index
  R <- rho^abs(outer(1:5, 1:5, "-"))
  Sigma <- diag(sd_v) %*% R %*% diag(sd_v)
  L <- t(chol(Sigma))
  mu_visit <- c(0, 1.5, 3.0, 4.0, 2.5)
  armB_eff <- c(0, 0.5, 1.5, 2.5, 2.0)
  rows <- vector("list", nsub)
  for (i in seq_len(nsub)) {
    e <- as.vector(L %*% rnorm(5))
    y <- 20 + 0.3 * (base[i] - 50) + mu_visit + (arm[i] == "B") * armB_eff + b0[i] + e
    rows[[i]] <- data.frame(subject = subject[i], visit = VISITS, day = DAYS, arm = arm[i],
                            base = base[i], y = round(y, 3), stringsAsFactors = FALSE)
  }
  d <- do.call(rbind, rows)
  # 8 missing y values in 5 subjects (2, 2, 2, 1, 1 visits each), so 7 subjects stay complete.
  # (With only 4 complete subjects the REML likelihood of an unstructured 5x5 R is unbounded:
  # V can collapse along a direction orthogonal to the few complete residual vectors.)
  miss_sub <- sample(subject, 5)
  n_miss <- c(2, 2, 2, 1, 1)
  for (k in seq_along(miss_sub)) {
    v <- sample(VISITS, n_miss[k])
    d$y[d$subject == miss_sub[k] & d$visit %in% v] <- NA
  }
  d
}

make_orthodont_unbal <- function() {
  set.seed(20261126)
  o <- as.data.frame(nlme::Orthodont)
  d <- data.frame(Subject = as.character(o$Subject), Sex = as.character(o$Sex),
                  age_f = paste0("age", o$age), distance = o$distance,
                  stringsAsFactors = FALSE)
  drop <- sort(sample(nrow(d), 8))
  d[-drop, ]
}

write.csv(make_trial_like(), file.path(data_dir, "trial_like.csv"), row.names = FALSE, na = "")
write.csv(make_orthodont_unbal(), file.path(data_dir, "orthodont_unbal.csv"), row.names = FALSE,
          na = "")

AGES <- c("age8", "age10", "age12", "age14")
read_trial <- function() {
  d <- read.csv(file.path(data_dir, "trial_like.csv"), stringsAsFactors = FALSE)
  d$visit <- factor(d$visit, levels = VISITS)
  d$arm <- factor(d$arm, levels = c("A", "B"))
  d$subject <- factor(d$subject)
  d$tidx <- as.integer(d$visit)
  d[!is.na(d$y), ]
}
read_orth <- function() {
  d <- read.csv(file.path(data_dir, "orthodont_unbal.csv"), stringsAsFactors = FALSE)
  d$age_f <- factor(d$age_f, levels = AGES)
  d$Sex <- factor(d$Sex, levels = c("Male", "Female"))
  d$Subject <- factor(d$Subject, levels = unique(d$Subject))
  d$tidx <- as.integer(d$age_f)
  d[!is.na(d$distance), ]
}
trial <- read_trial()
orth  <- read_orth()

# ------------------------------------------------------------------------------------------
# 2. Helpers
# ------------------------------------------------------------------------------------------
pkgv <- function(p) as.character(packageVersion(p))

# SAS PROC MIXED definition of -2 (RE)ML log-likelihood for a marginal model with block-diagonal
# V (blocks = subjects, each block = rows/cols of the full t x t matrix Vfull at the observed
# time indices):
#   REML: (N-p) log(2 pi) + sum_i log|V_i| + log|X'V^-1 X| + r'V^-1 r
#   ML:    N    log(2 pi) + sum_i log|V_i| + r'V^-1 r
sas_neg2ll <- function(y, X, grp, tidx, Vfull, REML = TRUE) {
  p <- ncol(X); N <- length(y)
  XtVX <- matrix(0, p, p); XtVy <- numeric(p); logdet <- 0
  blocks <- split(seq_len(N), grp, drop = TRUE)
  for (rows in blocks) {
    Vi <- Vfull[tidx[rows], tidx[rows], drop = FALSE]
    Ci <- chol(Vi)
    logdet <- logdet + 2 * sum(log(diag(Ci)))
    Vinv <- chol2inv(Ci)
    Xi <- X[rows, , drop = FALSE]
    XtVX <- XtVX + t(Xi) %*% Vinv %*% Xi
    XtVy <- XtVy + as.vector(t(Xi) %*% Vinv %*% y[rows])
  }
  beta <- solve(XtVX, XtVy)
  quad <- 0
  for (rows in blocks) {
    Vi <- Vfull[tidx[rows], tidx[rows], drop = FALSE]
    r <- y[rows] - X[rows, , drop = FALSE] %*% beta
    quad <- quad + as.numeric(t(r) %*% solve(Vi, r))
  }
  ldXVX <- as.numeric(determinant(XtVX, logarithm = TRUE)$modulus)
  val <- if (REML) (N - p) * log(2 * pi) + logdet + ldXVX + quad
         else N * log(2 * pi) + logdet + quad
  list(neg2ll = val, beta = setNames(as.vector(beta), colnames(X)),
       se = setNames(sqrt(diag(solve(XtVX))), colnames(X)))
}

coef_table <- function(ct) {
  ct <- as.data.frame(ct)
  out <- data.frame(term = rownames(ct), estimate = ct[[1]], se = ct[[2]], stringsAsFactors = FALSE)
  if (ncol(ct) >= 5) {
    out$df <- ct[["df"]]; out$t <- ct[["t value"]]; out$p <- ct[["Pr(>|t|)"]]
  }
  rownames(out) <- NULL
  out
}

emm_df <- function(x) {
  s <- as.data.frame(summary(x, infer = c(TRUE, TRUE)))
  for (j in seq_along(s)) if (is.factor(s[[j]])) s[[j]] <- as.character(s[[j]])
  rownames(s) <- NULL
  s
}

anova_df <- function(a) {
  a <- as.data.frame(a)
  data.frame(term = rownames(a), NumDF = a[["NumDF"]], DenDF = a[["DenDF"]], F = a[["F value"]],
             p = a[["Pr(>F)"]], stringsAsFactors = FALSE)
}

un_params <- function(V, prefix = "UN") {
  t <- nrow(V); out <- list()
  for (i in 1:t) for (j in 1:i) out[[sprintf("%s(%d,%d)", prefix, i, j)]] <- V[i, j]
  out
}

vars_params <- function(V) {
  out <- list()
  for (i in seq_len(nrow(V))) out[[sprintf("Var(%d)", i)]] <- V[i, i]
  out
}

# emmeans blocks for a fit: LS means over `time` (and by `by` when given), each-level-minus-first
emm_block <- function(fit, time, by = NULL, mode_args = list(), label) {
  spec <- if (is.null(by)) as.formula(paste("~", time)) else as.formula(paste("~", by, "*", time))
  res <- list(df_mode = label)
  e_t <- do.call(emmeans, c(list(fit, as.formula(paste("~", time))), mode_args))
  res$lsmeans <- emm_df(e_t)
  res$contrasts_vs_first <- emm_df(contrast(e_t, method = "trt.vs.ctrl", ref = 1, adjust = "none"))
  if (!is.null(by)) {
    e_bt <- do.call(emmeans, c(list(fit, spec), mode_args))
    res$lsmeans_by <- emm_df(e_bt)
    e_tb <- do.call(emmeans, c(list(fit, as.formula(paste("~", time, "|", by))), mode_args))
    res$contrasts_vs_first_by <- emm_df(contrast(e_tb, method = "trt.vs.ctrl", ref = 1,
                                                 adjust = "none"))
  }
  res
}

# Polishing step.  nlme's optimizers stop early on flat REML surfaces (e.g. the 15-parameter
# UN on 12 subjects stops ~1e-4 away in V).  So every gls fit is refined by Newton's method on the SAS -2 REML log-likelihood (sas_neg2ll above) in
# a natural parametrization of the t x t matrix, with Richardson-extrapolated numerical
# derivatives (numDeriv), until the gradient is ~0.  gls is then refitted from the polished
# values (so emmeans works on a fit at the optimum) and both are recorded.
theta_to_V <- function(struct, th, t) {
  switch(struct,
    un = { L <- matrix(0, t, t); L[lower.tri(L, diag = TRUE)] <- th; diag(L) <- exp(diag(L))
           L %*% t(L) },
    cs = exp(th[1]) * ((1 - th[2]) * diag(t) + th[2]),
    csh = { s <- exp(th[1:t]); R <- (1 - th[t + 1]) * diag(t) + th[t + 1]; R * outer(s, s) },
    ar1 = exp(th[1]) * th[2]^abs(outer(1:t, 1:t, "-")),
    arh1 = { s <- exp(th[1:t]); th[t + 1]^abs(outer(1:t, 1:t, "-")) * outer(s, s) },
    diag = diag(exp(2 * th[1:t]), t),
    toeph = { s <- exp(th[1:t]); R <- matrix(1, t, t)
              lag <- abs(outer(1:t, 1:t, "-"))
              R[lag > 0] <- th[t + lag[lag > 0]]; R * outer(s, s) })
}
V_to_theta <- function(struct, V) {
  t <- nrow(V); s <- sqrt(diag(V)); R <- V / outer(s, s)
  switch(struct,
    un = { L <- t(chol(V)); diag(L) <- log(diag(L)); L[lower.tri(L, diag = TRUE)] },
    cs = c(log(V[1, 1]), R[1, 2]),
    csh = c(log(s), R[1, 2]),
    ar1 = c(log(V[1, 1]), R[1, 2]),
    arh1 = c(log(s), R[1, 2]),
    diag = log(s),
    toeph = c(log(s), sapply(1:(t - 1), function(k) R[1, 1 + k])))
}
polish_theta <- function(vfun, th, y, X, grp, tidx, REML = TRUE, maxit = 50) {
  f <- function(th) {
    v <- tryCatch(sas_neg2ll(y, X, grp, tidx, vfun(th), REML)$neg2ll,
                  error = function(e) NA_real_)
    if (is.na(v)) Inf else v
  }
  f0 <- fth <- f(th)
  for (it in seq_len(maxit)) {
    g <- numDeriv::grad(f, th)
    if (max(abs(g)) < 1e-8) break
    H <- numDeriv::hessian(f, th, method.args = list(d = 1e-3, r = 4))
    step <- tryCatch(solve(H, g), error = function(e) g)
    if (sum(step * g) <= 0) step <- g * 1e-3           # not a descent direction: tiny gradient step
    a <- 1
    repeat {
      th_new <- th - a * step; f_new <- f(th_new)
      if (f_new <= fth || a < 1e-10) break
      a <- a / 2
    }
    if (f_new > fth) break
    done <- (fth - f_new) < 1e-13 && max(abs(g)) < 1e-6
    th <- th_new; fth <- f_new
    if (done) break
  }
  g <- numDeriv::grad(f, th)
  Hf <- numDeriv::hessian(f, th, method.args = list(d = 1e-3, r = 4))
  list(V = vfun(th), theta = th, neg2ll = fth, start_neg2ll = f0, iterations = it,
       max_abs_gradient = max(abs(g)),
       min_eigen_hessian = if (all(is.finite(Hf)))
         min(eigen(Hf, symmetric = TRUE, only.values = TRUE)$values) else NA_real_)
}
polish_V <- function(struct, V0, y, X, grp, tidx, REML = TRUE) {
  t <- nrow(V0)
  polish_theta(function(th) theta_to_V(struct, th, t), V_to_theta(struct, V0), y, X, grp, tidx,
               REML)
}

cases <- list()

# ------------------------------------------------------------------------------------------
# 3. lme4 / lmerTest cases (trial_like)
# ------------------------------------------------------------------------------------------
lctrl <- lmerControl(optimizer = "bobyqa",
                     optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5),
                     check.conv.singular = "warning")
lctrl_nm <- lmerControl(optimizer = "Nelder_Mead",
                        optCtrl = list(FtolAbs = 1e-14, FtolRel = 1e-15, XtolRel = 1e-12,
                                       maxfun = 1e5))

lmer_case <- function(name, formula_fixed, random, data, REML, time, by = NULL,
                      covariance, slope_var = NULL, emm_at = NULL, notes = NULL) {
  f <- as.formula(paste(formula_fixed, "+", random))
  fit0 <- lmerTest::lmer(f, data = data, REML = REML, control = lctrl)
  fit_nm <- lme4::lmer(f, data = data, REML = REML, control = lctrl_nm)
  # independent Newton polish of the same likelihood (log-Cholesky G, log sigma^2), started at
  # the bobyqa fit; lme4 is then refitted from the polished theta so that the lme4/lmerTest
  # object used below sits at the optimum to ~1e-8.
  Z <- if (is.null(slope_var)) matrix(1, length(VISITS), 1) else cbind(1, DAYS * slope_var)
  q <- ncol(Z)
  X <- getME(fit0, "X")
  G0 <- matrix(as.numeric(VarCorr(fit0)$subject), q)
  vfun <- function(th) {
    L <- matrix(0, q, q); L[lower.tri(L, diag = TRUE)] <- th[seq_len(q * (q + 1) / 2)]
    diag(L) <- exp(diag(L))
    Z %*% L %*% t(L) %*% t(Z) + exp(th[length(th)]) * diag(length(VISITS))
  }
  th0 <- { L <- t(chol(G0)); diag(L) <- log(diag(L))
           c(L[lower.tri(L, diag = TRUE)], log(sigma(fit0)^2)) }
  pol <- polish_theta(vfun, th0, data$y, X, data$subject, data$tidx, REML = REML)
  theta_start <- {
    L <- matrix(0, q, q); L[lower.tri(L, diag = TRUE)] <- pol$theta[seq_len(q * (q + 1) / 2)]
    diag(L) <- exp(diag(L)); L <- L / sqrt(exp(pol$theta[length(pol$theta)]))
    L[lower.tri(L, diag = TRUE)]
  }
  fit <- lmerTest::lmer(f, data = data, REML = REML, start = list(theta = theta_start),
                        control = lmerControl(optimizer = "bobyqa",
                                              optCtrl = list(rhobeg = 1e-4, rhoend = 1e-12,
                                                             maxfun = 1e5)))
  s2 <- sigma(fit)^2
  G <- as.matrix(VarCorr(fit)$subject); attr(G, "stddev") <- NULL; attr(G, "correlation") <- NULL
  if (is.null(slope_var)) {
    cp <- list(Intercept = G[1, 1], Residual = s2)
  } else {
    cp <- list(`UN(1,1)` = G[1, 1], `UN(2,1)` = G[2, 1], `UN(2,2)` = G[2, 2], Residual = s2)
  }
  Vfull <- Z %*% G %*% t(Z) + s2 * diag(length(VISITS))
  dimnames(Vfull) <- NULL
  chk <- sas_neg2ll(data$y, X, data$subject, data$tidx, Vfull, REML = REML)
  crit <- if (REML) REMLcrit(fit) else deviance(fit)
  cs <- list(
    data = "trial_like.csv", formula = formula_fixed, random = random,
    subject = "subject", time = time, time_levels = VISITS,
    factor_levels = list(visit = VISITS, arm = c("A", "B")),
    covariance = covariance, method = if (REML) "REML" else "ML",
    package = "lme4+lmerTest", package_version = list(lme4 = pkgv("lme4"),
                                                       lmerTest = pkgv("lmerTest"),
                                                       pbkrtest = pkgv("pbkrtest"),
                                                       emmeans = pkgv("emmeans")),
    n_obs = nrow(data), n_subjects = nlevels(droplevels(data$subject)),
    neg2_loglik = crit,
    neg2_loglik_definition = if (REML) "lme4 REMLcrit = SAS '-2 Res Log Likelihood'" else
      "lme4 deviance = SAS '-2 Log Likelihood' (METHOD=ML)",
    neg2_loglik_sas = chk$neg2ll,
    covariance_parameters = cp,
    covariance_matrix = Vfull,
    covariance_matrix_times = if (is.null(slope_var)) VISITS else DAYS,
    fixed = coef_table(cbind(fixef(fit), sqrt(diag(as.matrix(vcov(fit)))))),
    singular = isSingular(fit),
    convergence_messages = fit@optinfo$conv$lme4$messages,
    cross_check = list(
      polished_neg2_loglik = pol$neg2ll,
      polished_max_abs_gradient = pol$max_abs_gradient,
      first_bobyqa_fit_neg2_loglik = if (REML) REMLcrit(fit0) else deviance(fit0),
      first_bobyqa_fit_max_abs_diff_V = max(abs(Z %*% G0 %*% t(Z) +
        sigma(fit0)^2 * diag(length(VISITS)) - Vfull)),
      polished_max_abs_diff_V = max(abs(pol$V - Vfull)),
      polished_max_abs_diff_fixef = max(abs(
        sas_neg2ll(data$y, X, data$subject, data$tidx, pol$V, REML = REML)$beta - fixef(fit))),
      nelder_mead_neg2_loglik = if (REML) REMLcrit(fit_nm) else deviance(fit_nm),
      nelder_mead_max_abs_diff_fixef = max(abs(fixef(fit) - fixef(fit_nm))),
      nelder_mead_max_abs_diff_V = {
        Gn <- as.matrix(VarCorr(fit_nm)$subject)
        max(abs(Z %*% Gn %*% t(Z) + sigma(fit_nm)^2 * diag(length(VISITS)) - Vfull))
      },
      sas_formula_minus_lme4 = chk$neg2ll - crit,
      sas_formula_beta_max_abs_diff = max(abs(chk$beta - fixef(fit)))
    )
  )
  if (!is.null(slope_var)) cs$day_scale <- slope_var
  cs$fixed_satterthwaite <- coef_table(coef(summary(fit, ddf = "Satterthwaite")))
  if (REML) {
    cs$fixed_kenward_roger <- coef_table(coef(summary(fit, ddf = "Kenward-Roger")))
    cs$fixed_kenward_roger_se_check <- sqrt(diag(as.matrix(pbkrtest::vcovAdj(fit))))
  }
  cs$type3 <- list(satterthwaite = anova_df(anova(fit, type = 3, ddf = "Satterthwaite")))
  if (REML) cs$type3$kenward_roger <- anova_df(anova(fit, type = 3, ddf = "Kenward-Roger"))
  # Type 3 again under sum-to-zero coding (SAS-style); should be identical if lmerTest's type 3
  # is coding-invariant.
  fit_sum <- lmerTest::lmer(f, data = data, REML = REML, start = list(theta = theta_start),
                            control = lmerControl(optimizer = "bobyqa",
                                                  optCtrl = list(rhobeg = 1e-4, rhoend = 1e-12,
                                                                 maxfun = 1e5)),
                            contrasts = Filter(Negate(is.null),
                                               list(visit = if (grepl("visit", formula_fixed)) "contr.sum",
                                                    arm = if (grepl("arm", formula_fixed)) "contr.sum")))
  cs$type3_sum_coding <- list(satterthwaite = anova_df(anova(fit_sum, type = 3,
                                                              ddf = "Satterthwaite")))
  if (REML) cs$type3_sum_coding$kenward_roger <- anova_df(anova(fit_sum, type = 3,
                                                                 ddf = "Kenward-Roger"))
  if (is.null(emm_at)) {
    modes <- list(satterthwaite = list(lmer.df = "satterthwaite"))
    if (REML) modes$kenward_roger <- list(lmer.df = "kenward-roger")
    cs$emmeans <- lapply(names(modes), function(m) emm_block(fit, time, by, modes[[m]], m))
    names(cs$emmeans) <- names(modes)
    cs$lsmeans <- cs$emmeans$satterthwaite$lsmeans
    cs$contrasts_vs_first <- cs$emmeans$satterthwaite$contrasts_vs_first
  } else {
    # numeric time: predicted means at the study days, and each day minus day 0
    modes <- list(satterthwaite = "satterthwaite", kenward_roger = "kenward-roger")
    if (!REML) modes$kenward_roger <- NULL
    cs$emmeans <- lapply(modes, function(m) {
      e <- emmeans(fit, ~ dayx, at = list(dayx = emm_at), lmer.df = m)
      list(df_mode = m, predicted_means = emm_df(e),
           contrasts_vs_first = emm_df(contrast(e, method = "trt.vs.ctrl", ref = 1,
                                                adjust = "none")))
    })
  }
  if (!is.null(notes)) cs$notes <- notes
  cs
}

cases$trial_like_ri_visit_reml <- lmer_case(
  "trial_like_ri_visit_reml", "y ~ visit", "(1 | subject)", trial, REML = TRUE,
  time = "visit", covariance = "random-intercept")
cases$trial_like_ri_visit_ml <- lmer_case(
  "trial_like_ri_visit_ml", "y ~ visit", "(1 | subject)", trial, REML = FALSE,
  time = "visit", covariance = "random-intercept",
  notes = "ML fit: Kenward-Roger is defined for REML only, so only Satterthwaite df are given.")
cases$trial_like_ri_arm_visit_base_reml <- lmer_case(
  "trial_like_ri_arm_visit_base_reml", "y ~ arm * visit + base", "(1 | subject)", trial,
  REML = TRUE, time = "visit", by = "arm", covariance = "random-intercept",
  notes = paste("LS means are at the mean of base over the observations used (rows with y),",
                "as emmeans' reference grid and SAS LSMEANS both do; lsmeans = over visit",
                "averaging arm with equal weights; lsmeans_by = arm x visit cells."))

# random intercept + slope on numeric study day; raw day first, scaled if that is troublesome
trial$dayx <- trial$day
rs_raw <- tryCatch(
  withCallingHandlers(lmer(y ~ dayx + (1 + dayx | subject), data = trial, control = lctrl),
                      warning = function(w) stop(w)),
  error = function(e) e)
if (inherits(rs_raw, "error") || isSingular(rs_raw)) {
  day_scale <- 1 / 120
  rs_note <- paste("Raw day failed (", if (inherits(rs_raw, "error")) conditionMessage(rs_raw)
                   else "singular fit", "); used dayx = day/120.")
} else {
  day_scale <- 1
  rs_note <- "Fitted on raw study day (dayx = day); converged, non-singular."
}
trial$dayx <- trial$day * day_scale
cases$trial_like_rslope_day_reml <- lmer_case(
  "trial_like_rslope_day_reml", "y ~ dayx", "(1 + dayx | subject)", trial, REML = TRUE,
  time = "dayx", covariance = "random-slope", slope_var = day_scale,
  emm_at = DAYS * day_scale,
  notes = paste(rs_note, "dayx = day *", day_scale, "; G is UN(2) over (intercept, dayx);",
                "covariance_matrix is Z G Z' + sigma^2 I at days 0,1,5,30,120.",
                "emmeans gives predicted means at those days (like SAS ESTIMATE statements)."))
trial$dayx <- NULL

# ------------------------------------------------------------------------------------------
# 4. nlme::gls marginal models (trial_like and orthodont_unbal)
# ------------------------------------------------------------------------------------------
gctrl <- glsControl(maxIter = 1000, msMaxIter = 1000, tolerance = 1e-10, msTol = 1e-12,
                    returnObject = TRUE)
gctrl_optim <- glsControl(maxIter = 1000, msMaxIter = 1000, tolerance = 1e-12, msTol = 1e-14,
                          opt = "optim", optimMethod = "BFGS")

gls_specs <- list(
  un   = list(cor = function(g) corSymm(form = as.formula(paste("~ tidx |", g))), het = TRUE),
  cs   = list(cor = function(g) corCompSymm(form = as.formula(paste("~ 1 |", g))), het = FALSE),
  csh  = list(cor = function(g) corCompSymm(form = as.formula(paste("~ 1 |", g))), het = TRUE),
  ar1  = list(cor = function(g) corAR1(form = as.formula(paste("~ tidx |", g))), het = FALSE),
  arh1 = list(cor = function(g) corAR1(form = as.formula(paste("~ tidx |", g))), het = TRUE),
  diag = list(cor = function(g) NULL, het = TRUE)
)

gls_case <- function(struct, dname, data, formula, subj, time, levels, by = NULL,
                     factor_levels) {
  sp <- gls_specs[[struct]]
  f <- as.formula(formula)
  nt <- length(levels)
  cnt <- table(data[[subj]])
  complete <- names(cnt)[cnt == nt][1]
  stopifnot(identical(as.integer(data[[time]][data[[subj]] == complete]), seq_len(nt)))
  X <- model.matrix(f, data)
  yv <- data[[all.vars(f)[1]]]
  tix <- as.integer(data[[time]])
  fit_gls <- function(V = NULL, control = gctrl) {
    args <- list(model = f, data = data, method = "REML", control = control)
    if (!is.null(V)) { sdd <- sqrt(diag(V)); R <- V / outer(sdd, sdd) }
    if (!is.null(sp$cor(subj))) {
      args$correlation <- sp$cor(subj)
      if (!is.null(V)) {
        val <- if (struct == "un") R[lower.tri(R)] else R[1, 2]
        args$correlation <- switch(struct,
          un = corSymm(value = val, form = as.formula(paste("~ tidx |", subj))),
          cs = , csh = corCompSymm(value = val, form = as.formula(paste("~ 1 |", subj))),
          ar1 = , arh1 = corAR1(value = val, form = as.formula(paste("~ tidx |", subj))))
      }
    }
    if (sp$het) {
      args$weights <- if (is.null(V)) varIdent(form = as.formula(paste("~ 1 |", time))) else
        varIdent(value = setNames(sdd[-1] / sdd[1], levels[-1]),
                 form = as.formula(paste("~ 1 |", time)))
    }
    do.call(gls, args)
  }
  getV <- function(fit) {
    V <- if (is.null(fit$modelStruct$corStruct)) {
      diag((fit$sigma * coef(fit$modelStruct$varStruct, unconstrained = FALSE,
                             allCoef = TRUE)[levels])^2, nt)
    } else as.matrix(getVarCov(fit, individual = complete))
    V <- matrix(as.numeric(V), nt)
    if (sp$het) {   # check the diagonal against sigma and the varIdent ratios, in level order
      w <- coef(fit$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
      sdv <- fit$sigma * w[levels]
      stopifnot(max(abs(sqrt(diag(V)) - sdv)) < 1e-8 * max(sdv))
    }
    V
  }
  warn0 <- character(0)
  fit0 <- withCallingHandlers(
    tryCatch(fit_gls(), error = function(e) {
      warn0 <<- c(warn0, paste("nlminb:", conditionMessage(e)))
      fit_gls(control = gctrl_optim)
    }),
    warning = function(w) { warn0 <<- c(warn0, conditionMessage(w)); invokeRestart("muffleWarning") })
  V0 <- getV(fit0)
  pol <- polish_V(struct, V0, yv, X, data[[subj]], tix, REML = TRUE)
  Vfull <- pol$V
  chk <- sas_neg2ll(yv, X, data[[subj]], tix, Vfull, REML = TRUE)
  XtViX_inv <- {
    A <- matrix(0, ncol(X), ncol(X))
    for (rows in split(seq_along(yv), data[[subj]], drop = TRUE)) {
      Vi <- Vfull[tix[rows], tix[rows], drop = FALSE]; Xi <- X[rows, , drop = FALSE]
      A <- A + t(Xi) %*% solve(Vi, Xi)
    }
    solve(A)
  }
  dimnames(XtViX_inv) <- list(colnames(X), colnames(X))
  fit <- fit_gls(Vfull)                 # nlme refit started at the polished optimum
  Vr <- getV(fit)
  logXtX <- as.numeric(determinant(crossprod(X), logarithm = TRUE)$modulus)
  sdd <- sqrt(diag(Vfull))
  R <- Vfull / outer(sdd, sdd)
  cp <- switch(struct,
    un   = un_params(Vfull),
    cs   = list(CS = Vfull[1, 2], Residual = Vfull[1, 1] - Vfull[1, 2]),
    csh  = c(vars_params(Vfull), list(CSH = R[1, 2])),
    ar1  = list(`AR(1)` = R[1, 2], Residual = Vfull[1, 1]),
    arh1 = c(vars_params(Vfull), list(`ARH(1)` = R[1, 2])),
    diag = vars_params(Vfull))
  cs <- list(
    data = dname, formula = formula, subject = subj, time = time, time_levels = levels,
    factor_levels = factor_levels, covariance = struct, method = "REML",
    package = "nlme::gls (+ Newton polish in R)",
    package_version = list(nlme = pkgv("nlme"), emmeans = pkgv("emmeans"),
                           numDeriv = pkgv("numDeriv")),
    n_obs = nrow(data), n_subjects = length(unique(data[[subj]])),
    neg2_loglik = chk$neg2ll - logXtX,
    neg2_loglik_sas = chk$neg2ll,
    log_det_XtX = logXtX,
    notes = paste(
      "neg2_loglik is in nlme's convention (-2*logLik(gls)): nlme's REML log-likelihood has",
      "an extra +0.5*log|X'X| relative to SAS, so neg2_loglik = neg2_loglik_sas - log|X'X|",
      "(log_det_XtX given; cross_check.nlme_refit_neg2_loglik is nlme's own number).",
      "neg2_loglik_sas = (N-p)log(2pi) + sum log|V_i| + log|X'V^-1X| + r'V^-1r computed in R",
      "from the fitted V: what SAS PROC MIXED prints as '-2 Res Log Likelihood'.",
      "All values are at the Newton-polished REML optimum (gradient in cross_check);",
      "fixed = GLS estimates with model-based SEs sqrt(diag((X'V^-1X)^-1)).",
      "SAS-style parameter names:", switch(struct,
        un = "TYPE=UN: UN(i,j).",
        cs = "TYPE=CS: CS = common covariance, Residual = variance - CS.",
        csh = "TYPE=CSH: Var(i) and CSH correlation.",
        ar1 = "TYPE=AR(1): AR(1) correlation and Residual = variance.",
        arh1 = "TYPE=ARH(1): Var(i) and ARH(1) correlation.",
        diag = "diagonal = SAS TYPE=UN(1) (or VC with GROUP=time): Var(i) = UN(i,i)."),
      "Correlation is indexed by the position of the time level (missing visits keep their",
      "slot), as SAS REPEATED time / SUBJECT= does. emmeans df for gls are approximate;",
      "emmeans estimates/SEs use the polished beta and (X'V^-1X)^-1."),
    covariance_parameters = cp,
    covariance_matrix = Vfull,
    fixed = coef_table(cbind(chk$beta, sqrt(diag(XtViX_inv)))),
    cross_check = list(
      polish_iterations = pol$iterations,
      polish_max_abs_gradient = pol$max_abs_gradient,
      polish_min_eigen_hessian = pol$min_eigen_hessian,
      nlme_first_fit_messages = warn0,
      nlme_first_fit_neg2_loglik = -2 * as.numeric(logLik(fit0)),
      nlme_first_fit_max_abs_diff_V = max(abs(V0 - Vfull)),
      nlme_refit_neg2_loglik = -2 * as.numeric(logLik(fit)),
      nlme_refit_max_abs_diff_V = max(abs(Vr - Vfull)),
      nlme_refit_max_abs_diff_beta = max(abs(coef(fit) - chk$beta)),
      nlme_refit_max_abs_diff_se = max(abs(sqrt(diag(vcov(fit))) - sqrt(diag(XtViX_inv)))),
      nlme_refit_minus_sas_plus_logXtX = -2 * as.numeric(logLik(fit)) - chk$neg2ll + logXtX
    )
  )
  modes <- list(satterthwaite = "satterthwaite", df_error = "df.error")
  cs$emmeans <- lapply(names(modes), function(m) {
    rg <- ref_grid(fit, mode = modes[[m]])
    stopifnot(identical(names(rg@bhat), colnames(X)) || is.null(names(rg@bhat)))
    rg@bhat <- as.vector(chk$beta); rg@V <- XtViX_inv
    emm_block(rg, time, by, list(), m)
  })
  names(cs$emmeans) <- names(modes)
  cs$emmeans_default_mode <- paste("emmeans' default for gls is mode='auto', which uses",
    "'satterthwaite' here (an approximate, numerically differentiated Satterthwaite df:",
    "compare loosely); 'df.error' uses N - p.")
  cs$lsmeans <- cs$emmeans$satterthwaite$lsmeans
  cs$contrasts_vs_first <- cs$emmeans$satterthwaite$contrasts_vs_first
  cs
}

for (st in names(gls_specs)) {
  cases[[paste0("trial_like_gls_", st)]] <- gls_case(
    st, "trial_like.csv", trial, "y ~ visit", "subject", "visit", VISITS,
    factor_levels = list(visit = VISITS))
}
for (st in names(gls_specs)) {
  cases[[paste0("orthodont_unbal_gls_", st)]] <- gls_case(
    st, "orthodont_unbal.csv", orth, "distance ~ Sex * age_f", "Subject", "age_f", AGES,
    by = "Sex", factor_levels = list(age_f = AGES, Sex = c("Male", "Female")))
}

# ------------------------------------------------------------------------------------------
# 5. glmmTMB (secondary references; optimizer precision ~1e-5)
# ------------------------------------------------------------------------------------------
tmb_case <- function(struct) {
  f <- as.formula(sprintf("y ~ visit + %s(0 + visit | subject)", struct))
  fit <- glmmTMB(f, data = trial, dispformula = ~0, REML = TRUE,
                 control = glmmTMBControl(optCtrl = list(iter.max = 1e4, eval.max = 1e4)))
  G <- VarCorr(fit)$cond$subject
  G <- matrix(as.numeric(G), nrow(G))
  s2 <- sigma(fit)^2
  Vfull <- G + s2 * diag(nrow(G))
  sdd <- sqrt(diag(Vfull)); R <- Vfull / outer(sdd, sdd)
  cp <- switch(struct,
    us = un_params(Vfull),
    toep = {
      o <- vars_params(Vfull)
      for (k in 1:(nrow(R) - 1)) o[[sprintf("TOEPH(%d)", k)]] <- R[1, 1 + k]
      o
    },
    cs = c(vars_params(Vfull), list(CSH = R[1, 2])),
    ar1 = list(`AR(1)` = R[1, 2], Residual = Vfull[1, 1]),
    diag = vars_params(Vfull))
  X <- model.matrix(~ visit, trial)
  chk <- sas_neg2ll(trial$y, X, trial$subject, trial$tidx, Vfull, REML = TRUE)
  ct <- summary(fit)$coefficients$cond
  # exact counterpart: Newton polish of the SAS REML likelihood for the same structure
  pstruct <- c(us = "un", toep = "toeph", cs = "csh", ar1 = "ar1", diag = "diag")[[struct]]
  pol <- polish_V(pstruct, Vfull, trial$y, X, trial$subject, trial$tidx, REML = TRUE)
  pchk <- sas_neg2ll(trial$y, X, trial$subject, trial$tidx, pol$V, REML = TRUE)
  psd <- sqrt(diag(pol$V)); pR <- pol$V / outer(psd, psd)
  pcp <- switch(struct,
    us = un_params(pol$V),
    toep = {
      o <- vars_params(pol$V)
      for (k in 1:(nrow(pR) - 1)) o[[sprintf("TOEPH(%d)", k)]] <- pR[1, 1 + k]
      o
    },
    cs = c(vars_params(pol$V), list(CSH = pR[1, 2])),
    ar1 = list(`AR(1)` = pR[1, 2], Residual = pol$V[1, 1]),
    diag = vars_params(pol$V))
  exact <- list(
    description = paste("Exact REML optimum for the same covariance structure (no tiny",
      "residual), from Newton's method on the SAS -2 REML log-likelihood started at glmmTMB's",
      "estimate; primary-quality reference (~1e-8)."),
    neg2_loglik_sas = pol$neg2ll, covariance_parameters = pcp, covariance_matrix = pol$V,
    fixed = coef_table(cbind(pchk$beta, pchk$se)),
    max_abs_gradient = pol$max_abs_gradient, min_eigen_hessian = pol$min_eigen_hessian,
    glmmTMB_max_abs_diff_V = max(abs(pol$V - Vfull)),
    glmmTMB_max_abs_diff_fixed = max(abs(pchk$beta - ct[, 1])))
  sas_type <- c(us = "UN", toep = "TOEPH", cs = "CSH", ar1 = "AR(1)", diag = "UN(1)")[[struct]]
  list(
    data = "trial_like.csv", formula = "y ~ visit",
    random = sprintf("%s(0 + visit | subject), dispformula = ~0", struct),
    subject = "subject", time = "visit", time_levels = VISITS,
    factor_levels = list(visit = VISITS),
    covariance = c(us = "un", toep = "toeph", cs = "csh", ar1 = "ar1", diag = "diag")[[struct]],
    sas_type = sas_type, method = "REML",
    package = "glmmTMB", package_version = list(glmmTMB = pkgv("glmmTMB"), TMB = pkgv("TMB")),
    reference_quality = "secondary (glmmTMB optimizer precision ~1e-5 relative)",
    n_obs = nrow(trial), n_subjects = nlevels(trial$subject),
    neg2_loglik = -2 * as.numeric(logLik(fit)),
    neg2_loglik_sas = chk$neg2ll,
    residual_variance_fixed = s2,
    covariance_parameters = cp,
    covariance_matrix = Vfull,
    fixed = coef_table(ct[, 1:2, drop = FALSE]),
    convergence = fit$fit$convergence, convergence_message = fit$fit$message,
    pdHess = fit$sdr$pdHess,
    exact_polished = exact,
    notes = paste("dispformula=~0 fixes the residual variance at a tiny value",
                  "(residual_variance_fixed), so the whole covariance is the random-effect G;",
                  "covariance_matrix = G + that tiny value on the diagonal.",
                  "glmmTMB's REML (Laplace over beta) has the SAS constant, so neg2_loglik",
                  "should equal neg2_loglik_sas. glmmTMB", pkgv("glmmTMB"),
                  "struct meanings: us = UN; toep = heterogeneous Toeplitz (SAS TOEPH);",
                  "cs = heterogeneous compound symmetry (SAS CSH); ar1 = homogeneous AR(1);",
                  "diag = heterogeneous diagonal (SAS UN(1)).",
                  "glmmTMB's own objective with a ~1e-8 residual variance is numerically",
                  "ill-conditioned: its -2logLik can sit a few 1e-6 below the exact optimum and",
                  "nlminb may report false convergence; use exact_polished for tight checks.")
  )
}
for (st in c("us", "toep", "cs", "ar1", "diag")) {
  cases[[paste0("trial_like_glmmtmb_", st)]] <- tryCatch(tmb_case(st), error = function(e)
    list(error = conditionMessage(e)))
}

# cross-check glmmTMB against the matching exact gls fits
for (pr in list(c("us", "un"), c("cs", "csh"), c("ar1", "ar1"), c("diag", "diag"))) {
  a <- cases[[paste0("trial_like_glmmtmb_", pr[1])]]; b <- cases[[paste0("trial_like_gls_", pr[2])]]
  if (is.null(a$error)) {
    cases[[paste0("trial_like_glmmtmb_", pr[1])]]$cross_check <- list(
      vs_case = paste0("trial_like_gls_", pr[2]),
      max_abs_diff_V = max(abs(a$covariance_matrix - b$covariance_matrix)),
      max_abs_diff_fixed = max(abs(a$fixed$estimate - b$fixed$estimate)),
      max_abs_diff_se = max(abs(a$fixed$se - b$fixed$se)),
      diff_neg2_loglik_sas = a$neg2_loglik - b$neg2_loglik_sas)
  }
}

# ------------------------------------------------------------------------------------------
# 6. Write JSON
# ------------------------------------------------------------------------------------------
si <- sessionInfo()
cases <- c(list(`_meta` = list(
  generated_by = "validation/make_r_references.R",
  R = R.version.string,
  platform = si$platform,
  packages = lapply(setNames(nm = c("lme4", "lmerTest", "pbkrtest", "emmeans", "nlme", "glmmTMB",
                                    "TMB", "Matrix", "jsonlite")), pkgv),
  contrasts = "contr.treatment (first level is the reference), unless a block says otherwise",
  data_notes = list(
    trial_like.csv = paste("12 subjects x 5 visits (day0, day1, day5, day30, day120; day =",
      "0,1,5,30,120), arm A = S01-S06, B = S07-S12, base = subject-level baseline covariate.",
      "y = 20 + 0.3(base-50) + visit effect + arm B x visit effect + b_i (SD 3) + e,",
      "e ~ AR(1) rho 0.6 with SD (2, 2.5, 3, 3.5, 4.5) by visit; 8 y set missing (empty) in 5 subjects (2,2,2,1,1), 7 subjects complete.",
      "set.seed(20261125). Fits use the 52 complete rows."),
    orthodont_unbal.csv = paste("nlme::Orthodont with 8 rows removed at random",
      "(set.seed(20261126)); age_f levels age8, age10, age12, age14; Sex levels Male, Female.")
  ),
  precision = paste("lme4 and gls values sit at the REML/ML optimum to ~1e-8 (each fit is",
    "checked by Newton's method on the SAS -2 log-likelihood, and refitted from that optimum;",
    "see each case's cross_check); lmerTest/pbkrtest df to ~1e-4; emmeans df for gls are",
    "approximate (numerical Satterthwaite); glmmTMB cases are secondary (~1e-3 in V, 1e-5 in",
    "-2logL) but each carries an exact_polished block with the exact optimum.")
)), cases)

writeLines(toJSON(cases, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null",
                  na = "null", dataframe = "rows", matrix = "rowmajor"),
           file.path(out_dir, "r_mixed.json"))
cat("wrote", file.path(out_dir, "r_mixed.json"), "with", length(cases) - 1, "cases\n")
