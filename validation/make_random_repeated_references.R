# Independent R references for a random-effects + repeated-measures (R-side) model, the marginal
# model y_i ~ N(X_i b, V_i), V_i = Z_i G Z_i' + R_i, as SAS PROC MIXED fits it with
#   RANDOM intercept [VISITN] / SUBJECT=USUBJID [TYPE=UN];
#   REPEATED AVISIT / SUBJECT=USUBJID TYPE=AR(1);
# on mmrm's fev_data (the anchors' ../shared/anchors/mmrm/data/fev_data.csv, rows with FEV1).
#
# Cases (REML, treatment contrasts; AVISIT VIS1..VIS4, ARMCD PBO/TRT, RACE Asian / Black or
# African American / White, SEX Female/Male):
#   ri_ar1             FEV1 ~ ARMCD * AVISIT,              G = g,        R_i = s2 rho^|j-k|
#   ri_ar1_covariates  FEV1 ~ RACE + SEX + ARMCD * AVISIT, G = g,        R_i = s2 rho^|j-k|
#   rslope_ar1         FEV1 ~ ARMCD * AVISIT, Z_i = [1, VISITN], G unstructured, same R_i
# The AR(1) runs over VISITN (1..4), restricted to a subject's observed visits. Covariance
# parameters theta on SAS's scale: (g, rho, s2) = "Intercept", "AR(1)", "Residual", or
# (G11, G21, G22, rho, s2) = "UN(1,1)", "UN(2,1)", "UN(2,2)", "AR(1)", "Residual".
#
# Method, per case:
#  1. nlme::lme (REML, corAR1(~ VISITN | USUBJID), tight lmeControl); its estimates converted to
#     theta (G = getVarCov, rho from the corStruct, s2 = sigma^2).
#  2. Our own neg2_reml(theta) = (N - p) log(2 pi) + sum_i log|V_i| + log|X'V^-1 X| + r'V^-1 r
#     (SAS's "-2 Res Log Likelihood"), computed by whitening each subject with chol(V_i) and a QR
#     of the stacked whitened X. theta is polished from lme's estimate with optim BFGS (reltol
#     1e-15, numDeriv gradients), then Newton steps with the exact gradient and Hessian (below)
#     until max |gradient| < 1e-6 (they reach ~1e-13).
#  3. At the polished theta: GLS b, Phi = (X'V^-1 X)^-1, SE = sqrt(diag Phi), and
#     W = 2 H^-1, H the observed Hessian of neg2_reml (observed information, as SAS), computed
#     exactly: d2/dkl = tr(Pr V_kl) - tr(Pr V_k Pr V_l) + 2 y'Pr V_k Pr V_l Pr y - y'Pr V_kl Pr y,
#     Pr = V^-1 - V^-1 X Phi X'V^-1.
#  4. Satterthwaite df per coefficient: 2 Phi_jj^2 / (g'Wg), g_k = d Phi_jj / d theta_k
#     = -(Phi P_k Phi)_jj (exact).
#  5. Kenward-Roger (1997) as SAS DDFM=KR: dV_k, d2V_kl per subject, analytic (G's entries and
#     s2 enter V linearly, s2 rho^|j-k| is a polynomial in rho); P_k, Q_kl, R_kl,
#     Lambda = sum W_kl (Q_kl - P_k Phi P_l - R_kl / 4), Phi_A = Phi + 2 Phi Lambda Phi;
#     KR df (m) from A1, A2 with Theta = L'(L Phi L')^-1 L (unadjusted Phi, as in the paper and
#     mmrm). "kr_linear" drops R_kl (SAS's DDFM=KR(LINEAR)); its df equal KR's by construction
#     (the df use only Phi, P and W), and for one coefficient the KR df equal the Satterthwaite
#     df (m = 2/A1 when q = 1). The 3-row test of the ARMCD:AVISIT interaction reports
#     F = lambda F0 (F0 with Phi_A), lambda = m / (E* (m - 2)), den df m, for KR and KR-linear.
#  6. Cross-check: lme's own fixed effects and SEs (summary(fit)$tTable) vs our GLS at lme's
#     theta; largest differences under "checks".
# numDeriv (defaults, method "Richardson") is kept as an independent check of every exact
# derivative, under "checks": numDeriv::hessian(neg2_reml), numDeriv::jacobian of diag Phi,
# numDeriv::genD of the vectorised V_i(theta), and the df/SEs that the numDeriv Hessian would
# give. The exact forms are used because numDeriv's defaults are noise-limited here: genD's
# second derivatives of V_i are off by ~1e-3 absolute, and in rslope_ar1 the numDeriv Hessian's
# ~2e-6 relative error becomes ~0.6% in W (G11, G21, G22 are strongly correlated) and ~0.5% in
# the df and KR SEs. (The same code with G = 0, a plain AR(1) model, reproduces R mmrm 0.3.18's
# Kenward-Roger-Linear SEs, KR df and df_md F test to ~1e-7 relative.)
# Extra fields beyond the coefficient table: n_obs, n_subjects, interaction_test_kr_linear,
# W (2 H^-1, theta order), checks.
#
# Run from the repository root:
#   Rscript validation/make_random_repeated_references.R ../shared/anchors/mmrm/data/fev_data.csv
# writes tests/reference/random_repeated.json (~15 s).
#
# Needs R (4.2.2) from Debian's packages:
#   apt-get install -y r-base-core r-cran-nlme r-cran-numderiv r-cran-jsonlite

suppressPackageStartupMessages({
  library(nlme)
  library(numDeriv)
  library(jsonlite)
})

# ---------------------------------------------------------------------------------------------
# data and model structures

read_fev <- function(path) {
  fev <- read.csv(path, stringsAsFactors = FALSE)
  fev <- fev[!is.na(fev$FEV1), ]
  fev$USUBJID <- factor(fev$USUBJID)
  fev$AVISIT <- factor(fev$AVISIT, levels = c("VIS1", "VIS2", "VIS3", "VIS4"))
  fev$ARMCD <- factor(fev$ARMCD, levels = c("PBO", "TRT"))
  fev$RACE <- factor(fev$RACE, levels = c("Asian", "Black or African American", "White"))
  fev$SEX <- factor(fev$SEX, levels = c("Female", "Male"))
  fev <- fev[order(fev$USUBJID, fev$VISITN), ]
  rownames(fev) <- NULL
  fev
}

make_model <- function(data, fixed, slope) {
  mf <- model.frame(fixed, data)
  X <- model.matrix(fixed, mf)
  y <- model.response(mf)
  idx <- split(seq_len(nrow(data)), data$USUBJID, drop = TRUE)
  subjects <- lapply(idx, function(ii) {
    t <- data$VISITN[ii]
    list(X = X[ii, , drop = FALSE], y = y[ii], t = t,
         D = abs(outer(t, t, "-")),
         Z = if (slope) cbind(1, t) else matrix(1, length(t), 1),
         key = paste(t, collapse = ","))
  })
  n_re <- if (slope) 2L else 1L
  list(X = X, y = y, subjects = subjects, N = nrow(X), p = ncol(X), n_re = n_re,
       n_g = n_re * (n_re + 1L) / 2L,
       par_names = if (slope) c("UN(1,1)", "UN(2,1)", "UN(2,2)", "AR(1)", "Residual")
                   else c("Intercept", "AR(1)", "Residual"))
}

# theta -> (G, rho, s2); G's entries in SAS order UN(1,1), UN(2,1), UN(2,2)
unpack <- function(theta, m) {
  if (m$n_re == 1L) {
    G <- matrix(theta[1], 1, 1)
  } else {
    G <- matrix(c(theta[1], theta[2], theta[2], theta[3]), 2, 2)
  }
  list(G = G, rho = theta[m$n_g + 1L], s2 = theta[m$n_g + 2L])
}

V_of <- function(theta, m, Z, D) {
  u <- unpack(theta, m)
  Z %*% u$G %*% t(Z) + u$s2 * u$rho^D
}

# GLS at theta: whitening by chol(V_i), QR of the stacked whitened X
gls_at <- function(theta, m) {
  u <- unpack(theta, m)
  if (!all(is.finite(theta)) || abs(u$rho) >= 1) return(NULL)
  Xt <- matrix(0, m$N, m$p)
  yt <- numeric(m$N)
  logdetV <- 0
  pos <- 0L
  for (s in m$subjects) {
    V <- s$Z %*% u$G %*% t(s$Z) + u$s2 * u$rho^s$D
    U <- tryCatch(chol(V), error = function(e) NULL)
    if (is.null(U)) return(NULL)
    n <- length(s$y)
    rows <- pos + seq_len(n)
    Xt[rows, ] <- backsolve(U, s$X, transpose = TRUE)
    yt[rows] <- backsolve(U, s$y, transpose = TRUE)
    logdetV <- logdetV + 2 * sum(log(diag(U)))
    pos <- pos + n
  }
  qx <- qr(Xt)
  stopifnot(qx$rank == m$p, all(qx$pivot == seq_len(m$p)))
  R <- qr.R(qx)
  b <- qr.coef(qx, yt)
  res <- qr.resid(qx, yt)
  names(b) <- colnames(m$X)
  Phi <- chol2inv(R)
  dimnames(Phi) <- list(colnames(m$X), colnames(m$X))
  list(b = b, Phi = Phi, logdetV = logdetV, logdetXVX = 2 * sum(log(abs(diag(R)))),
       quad = sum(res^2))
}

neg2_reml <- function(theta, m) {
  f <- gls_at(theta, m)
  if (is.null(f)) return(Inf)
  (m$N - m$p) * log(2 * pi) + f$logdetV + f$logdetXVX + f$quad
}

# ---------------------------------------------------------------------------------------------
# derivatives of V_i and the exact REML gradient / observed Hessian

# first and second derivatives of V_i w.r.t. theta for one visit pattern, analytic: G's entries
# and s2 enter V linearly; V's AR(1) part s2 rho^D is a polynomial in rho.
dV_pattern <- function(theta, m, Z, D) {
  K <- length(theta)
  n <- nrow(D)
  u <- unpack(theta, m)
  k_rho <- m$n_g + 1L
  k_s2 <- m$n_g + 2L
  d1 <- vector("list", K)
  d2 <- array(0, c(n, n, K, K))
  if (m$n_re == 1L) {
    d1[[1]] <- Z %*% t(Z)
  } else {
    E <- list(matrix(c(1, 0, 0, 0), 2), matrix(c(0, 1, 1, 0), 2), matrix(c(0, 0, 0, 1), 2))
    for (k in 1:3) d1[[k]] <- Z %*% E[[k]] %*% t(Z)
  }
  d1[[k_s2]] <- u$rho^D
  d1[[k_rho]] <- u$s2 * D * u$rho^pmax(D - 1, 0)
  d2[, , k_rho, k_rho] <- u$s2 * D * (D - 1) * u$rho^pmax(D - 2, 0)
  d2[, , k_rho, k_s2] <- D * u$rho^pmax(D - 1, 0)
  d2[, , k_s2, k_rho] <- d2[, , k_rho, k_s2]
  list(d1 = d1, d2 = d2)
}

# numDeriv (genD, Richardson, defaults) of the vectorised V_i(theta): largest absolute
# difference from dV_pattern over all visit patterns (a check of the analytic derivatives)
dV_numderiv_check <- function(theta, m) {
  K <- length(theta)
  err <- 0
  seen <- character(0)
  for (s in m$subjects) {
    if (s$key %in% seen) next
    seen <- c(seen, s$key)
    an <- dV_pattern(theta, m, s$Z, s$D)
    Dm <- numDeriv::genD(function(th) as.vector(V_of(th, m, s$Z, s$D)), theta)$D
    n <- nrow(s$D)
    for (k in 1:K) err <- max(err, abs(Dm[, k] - as.vector(an$d1[[k]])))
    col <- K
    for (i in 1:K) for (j in 1:i) {
      col <- col + 1L
      err <- max(err, abs(Dm[, col] - as.vector(an$d2[, , i, j])))
    }
  }
  err
}

# P_k, Q_kl, R_kl (Kenward-Roger) and the exact gradient and observed Hessian of neg2_reml:
#   d/dk   = tr(Pr V_k) - y'Pr V_k Pr y
#   d2/dkl = tr(Pr V_kl) - tr(Pr V_k Pr V_l) + 2 y'Pr V_k Pr V_l Pr y - y'Pr V_kl Pr y,
# Pr = V^-1 - V^-1 X Phi X' V^-1, evaluated subject by subject.
reml_derivs <- function(theta, m) {
  K <- length(theta)
  p <- m$p
  f <- gls_at(theta, m)
  Phi <- f$Phi
  b <- f$b
  P <- array(0, c(p, p, K))
  Q <- array(0, c(p, p, K, K))
  R <- array(0, c(p, p, K, K))
  t1 <- numeric(K)             # sum tr(Vinv V_k)
  q1 <- numeric(K)             # sum rv' V_k rv
  u1 <- matrix(0, p, K)        # sum A' V_k rv
  t2 <- matrix(0, K, K)        # sum tr(Vinv V_kl) - tr(Vinv V_k Vinv V_l)
  q2 <- matrix(0, K, K)        # 2 sum rv' V_k Vinv V_l rv - sum rv' V_kl rv
  cache <- list()
  for (s in m$subjects) {
    if (is.null(cache[[s$key]])) cache[[s$key]] <- dV_pattern(theta, m, s$Z, s$D)
    dv <- cache[[s$key]]
    V <- V_of(theta, m, s$Z, s$D)
    Vinv <- chol2inv(chol(V))
    A <- Vinv %*% s$X
    rv <- Vinv %*% (s$y - s$X %*% b)
    VinvVk <- lapply(1:K, function(k) Vinv %*% dv$d1[[k]])
    for (k in 1:K) {
      Vk <- dv$d1[[k]]
      P[, , k] <- P[, , k] - t(A) %*% Vk %*% A
      t1[k] <- t1[k] + sum(diag(VinvVk[[k]]))
      q1[k] <- q1[k] + sum(rv * (Vk %*% rv))
      u1[, k] <- u1[, k] + t(A) %*% (Vk %*% rv)
      B_k <- t(A) %*% Vk %*% Vinv
      for (l in 1:K) {
        Vl <- dv$d1[[l]]
        Vkl <- dv$d2[, , k, l]
        Q[, , k, l] <- Q[, , k, l] + B_k %*% Vl %*% A
        R[, , k, l] <- R[, , k, l] + t(A) %*% Vkl %*% A
        t2[k, l] <- t2[k, l] + sum(Vinv * Vkl) - sum(t(VinvVk[[k]]) * VinvVk[[l]])
        q2[k, l] <- q2[k, l] + 2 * sum(rv * (Vk %*% (Vinv %*% (Vl %*% rv)))) -
          sum(rv * (Vkl %*% rv))
      }
    }
  }
  grad <- numeric(K)
  H <- matrix(0, K, K)
  for (k in 1:K) {
    grad[k] <- t1[k] + sum(Phi * P[, , k]) - q1[k]
    for (l in 1:K) {
      H[k, l] <- t2[k, l] - sum(Phi * R[, , k, l]) + 2 * sum(Phi * Q[, , k, l]) -
        sum(diag(Phi %*% P[, , k] %*% Phi %*% P[, , l])) -
        2 * as.numeric(t(u1[, k]) %*% Phi %*% u1[, l]) + q2[k, l]
    }
  }
  H <- (H + t(H)) / 2
  list(b = b, Phi = Phi, P = P, Q = Q, R = R, grad = grad, H = H)
}

# ---------------------------------------------------------------------------------------------
# polishing theta: BFGS with numDeriv gradients, then Newton steps with the exact gradient and
# Hessian until max |gradient| < 1e-6 (in practice they go on to ~1e-10)

polish <- function(theta0, m) {
  fn <- function(th) neg2_reml(th, m)
  gr <- function(th) numDeriv::grad(fn, th)
  opt <- optim(theta0, fn, gr, method = "BFGS",
               control = list(reltol = 1e-15, maxit = 5000))
  theta <- opt$par
  d <- reml_derivs(theta, m)
  newton <- 0L
  while (newton < 25L) {
    if (max(abs(d$grad)) < 1e-6 && newton >= 2L) break
    step <- solve(d$H, d$grad)
    lam <- 1
    repeat {
      cand <- theta - lam * step
      if (fn(cand) <= fn(theta) + 1e-9 || lam < 1e-4) break
      lam <- lam / 2
    }
    theta <- cand
    d <- reml_derivs(theta, m)
    newton <- newton + 1L
    if (max(abs(step)) < 1e-13 * max(abs(theta))) break
  }
  list(theta = theta, grad = d$grad, grad_numderiv = gr(theta),
       optim_convergence = opt$convergence, newton_steps = newton)
}

kr_adjusted <- function(Phi, W, km, linear) {
  K <- nrow(W)
  Lam <- matrix(0, nrow(Phi), ncol(Phi))
  for (k in 1:K) for (l in 1:K) {
    term <- km$Q[, , k, l] - km$P[, , k] %*% Phi %*% km$P[, , l]
    if (!linear) term <- term - km$R[, , k, l] / 4
    Lam <- Lam + W[k, l] * term
  }
  Phi + 2 * Phi %*% Lam %*% Phi
}

kr_df <- function(L, Phi, W, P) {
  L <- matrix(L, ncol = ncol(Phi))
  q <- nrow(L)
  K <- nrow(W)
  Theta <- t(L) %*% solve(L %*% Phi %*% t(L)) %*% L
  M <- lapply(1:K, function(k) Theta %*% Phi %*% P[, , k] %*% Phi)
  A1 <- 0
  A2 <- 0
  for (k in 1:K) for (l in 1:K) {
    A1 <- A1 + W[k, l] * sum(diag(M[[k]])) * sum(diag(M[[l]]))
    A2 <- A2 + W[k, l] * sum(diag(M[[k]] %*% M[[l]]))
  }
  B <- (A1 + 6 * A2) / (2 * q)
  g <- ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
  d <- 3 * q + 2 * (1 - g)
  c1 <- g / d
  c2 <- (q - g) / d
  c3 <- (q + 2 - g) / d
  Estar <- 1 / (1 - A2 / q)
  Vstar <- (2 / q) * (1 + c1 * B) / ((1 - c2 * B)^2 * (1 - c3 * B))
  rho <- Vstar / (2 * Estar^2)
  mdf <- 4 + (q + 2) / (q * rho - 1)
  list(m = mdf, lambda = mdf / (Estar * (mdf - 2)), A1 = A1, A2 = A2, E = Estar)
}

kr_test <- function(L, b, PhiA, Phi, W, P) {
  q <- nrow(L)
  Lb <- L %*% b
  F0 <- as.numeric(t(Lb) %*% solve(L %*% PhiA %*% t(L), Lb)) / q
  dfk <- kr_df(L, Phi, W, P)
  list(num_df = q, den_df = dfk$m, F = dfk$lambda * F0, F_unscaled = F0, scale = dfk$lambda)
}

# ---------------------------------------------------------------------------------------------
# one case

# Satterthwaite and KR results from Phi, P, R, Q and a W; gP[j, k] = d Phi_jj / d theta_k
inference <- function(m, d, W, gP) {
  b <- d$b
  Phi <- d$Phi
  p <- m$p
  se <- sqrt(diag(Phi))
  df_sat <- sapply(seq_len(p), function(j) 2 * Phi[j, j]^2 / sum(gP[j, ] * (W %*% gP[j, ])))
  PhiA <- kr_adjusted(Phi, W, d, linear = FALSE)
  PhiA_lin <- kr_adjusted(Phi, W, d, linear = TRUE)
  df_kr <- sapply(seq_len(p), function(j) {
    l <- numeric(p)
    l[j] <- 1
    kr_df(l, Phi, W, d$P)$m
  })
  inter <- grep("^ARMCDTRT:AVISIT", colnames(m$X))
  stopifnot(length(inter) == 3L)
  L <- matrix(0, 3, p)
  L[cbind(1:3, inter)] <- 1
  cols <- colnames(m$X)[inter]
  list(
    coefficients = lapply(seq_len(p), function(j) list(
      term = colnames(m$X)[j], estimate = unname(b[j]), se = unname(se[j]),
      df_satterthwaite = df_sat[j],
      se_kr = sqrt(PhiA[j, j]), df_kr = df_kr[j],
      se_kr_linear = sqrt(PhiA_lin[j, j]), df_kr_linear = df_kr[j])),
    test = c(kr_test(L, b, PhiA, Phi, W, d$P), list(columns = cols)),
    test_lin = c(kr_test(L, b, PhiA_lin, Phi, W, d$P), list(columns = cols)),
    flat = c(df_sat, sqrt(diag(PhiA)), df_kr, sqrt(diag(PhiA_lin))))
}

run_case <- function(name, fixed, slope, fev) {
  cat(sprintf("== %s\n", name))
  m <- make_model(fev, fixed, slope)
  ctrl <- lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-12, niterEM = 100,
                     msTol = 1e-14)
  random <- if (slope) ~ VISITN | USUBJID else ~ 1 | USUBJID
  fit <- lme(fixed, data = fev, random = random,
             correlation = corAR1(form = ~ VISITN | USUBJID), method = "REML", control = ctrl)
  Gl <- unclass(getVarCov(fit))
  rho_l <- as.numeric(coef(fit$modelStruct$corStruct, unconstrained = FALSE))
  s2_l <- fit$sigma^2
  theta_lme <- if (slope) c(Gl[1, 1], Gl[2, 1], Gl[2, 2], rho_l, s2_l) else c(Gl[1, 1], rho_l, s2_l)
  names(theta_lme) <- m$par_names

  # 6. cross-check lme's fixed effects and SEs with ours at lme's theta
  tt <- summary(fit)$tTable
  f_l <- gls_at(theta_lme, m)
  stopifnot(identical(rownames(tt), names(f_l$b)))
  d_est <- max(abs(tt[, "Value"] - f_l$b))
  d_se <- max(abs(tt[, "Std.Error"] - sqrt(diag(f_l$Phi))))
  n2_lme <- neg2_reml(theta_lme, m)

  # 2. polish
  pol <- polish(theta_lme, m)
  theta <- pol$theta
  names(theta) <- m$par_names
  n2 <- neg2_reml(theta, m)

  # 3.-5. at the polished theta, with the exact observed Hessian
  d <- reml_derivs(theta, m)
  W <- 2 * solve(d$H)
  gP <- -sapply(seq_along(theta), function(k) diag(d$Phi %*% d$P[, , k] %*% d$Phi))
  res <- inference(m, d, W, gP)

  # the same with numDeriv (defaults, Richardson) for H and for d Phi_jj / d theta
  fn <- function(th) neg2_reml(th, m)
  H_nd <- numDeriv::hessian(fn, theta)
  gP_nd <- numDeriv::jacobian(function(th) diag(gls_at(th, m)$Phi), theta)
  res_nd <- inference(m, d, 2 * solve(H_nd), gP_nd)
  rel_nd <- max(abs(res_nd$flat / res$flat - 1))
  dV_err <- dV_numderiv_check(theta, m)

  u <- unpack(theta, m)
  t4 <- 1:4
  Z4 <- if (slope) cbind(1, t4) else matrix(1, 4, 1)
  V4 <- Z4 %*% u$G %*% t(Z4) + u$s2 * u$rho^abs(outer(t4, t4, "-"))
  dimnames(V4) <- NULL

  checks <- list(
    lme_vs_gls_at_theta_lme_max_abs_estimate = d_est,
    lme_vs_gls_at_theta_lme_max_abs_se = d_se,
    nlme_neg2_loglik = -2 * as.numeric(logLik(fit)),
    optim_convergence = pol$optim_convergence,
    newton_steps = pol$newton_steps,
    max_abs_gradient_numderiv = max(abs(pol$grad_numderiv)),
    hessian_numderiv_vs_exact_max_rel = max(abs(H_nd - d$H)) / max(abs(d$H)),
    W_numderiv_vs_exact_max_rel = max(abs(2 * solve(H_nd) - W)) / max(abs(W)),
    dPhi_numderiv_vs_exact_max_rel = max(abs(gP_nd - gP)) / max(abs(gP)),
    df_se_with_numderiv_hessian_max_rel = rel_nd,
    dV_numderiv_vs_analytic_max_abs = dV_err)

  cat("theta_lme: ", format(theta_lme, digits = 12), "\n")
  cat("theta:     ", format(theta, digits = 12), "\n")
  cat(sprintf("-2 REML logL at lme: %.10f  polished: %.10f  (diff %.3g)  nlme -2logLik: %.10f\n",
              n2_lme, n2, n2_lme - n2, checks$nlme_neg2_loglik))
  cat(sprintf("max|grad| exact %.3g numDeriv %.3g (optim conv %d, newton steps %d)\n",
              max(abs(pol$grad)), checks$max_abs_gradient_numderiv, pol$optim_convergence,
              pol$newton_steps))
  cat(sprintf("lme cross-check: est %.3g se %.3g; numDeriv vs exact: H %.3g W %.3g dPhi %.3g -> df/se %.3g; dV %.3g\n",
              d_est, d_se, checks$hessian_numderiv_vs_exact_max_rel,
              checks$W_numderiv_vs_exact_max_rel, checks$dPhi_numderiv_vs_exact_max_rel,
              rel_nd, dV_err))

  list(
    name = name,
    formula = paste(deparse(fixed), collapse = ""),
    random = if (slope) "~ 1 + VISITN" else "~ 1",
    parameter_names = m$par_names,
    theta_lme = unname(theta_lme),
    theta = unname(theta),
    neg2_reml_lme = n2_lme,
    neg2_reml = n2,
    max_abs_gradient = max(abs(pol$grad)),
    n_obs = m$N,
    n_subjects = length(m$subjects),
    coefficients = res$coefficients,
    interaction_test_kr = res$test,
    interaction_test_kr_linear = res$test_lin,
    covariance_matrix = V4,
    W = unname(W),
    checks = checks
  )
}

# ---------------------------------------------------------------------------------------------

main <- function() {
  args <- commandArgs(trailingOnly = TRUE)
  data_path <- if (length(args) >= 1) args[[1]] else "../shared/anchors/mmrm/data/fev_data.csv"
  out_path <- if (length(args) >= 2) args[[2]] else "tests/reference/random_repeated.json"
  t0 <- proc.time()[["elapsed"]]
  fev <- read_fev(data_path)

  cases <- list(
    run_case("ri_ar1", FEV1 ~ ARMCD * AVISIT, FALSE, fev),
    run_case("ri_ar1_covariates", FEV1 ~ RACE + SEX + ARMCD * AVISIT, FALSE, fev),
    run_case("rslope_ar1", FEV1 ~ ARMCD * AVISIT, TRUE, fev)
  )

  out <- list(
    description = paste(
      "REML fits of y_i ~ N(X_i b, Z_i G Z_i' + R_i), R_i = s2 rho^|j-k| over VISITN (AR(1)),",
      "as SAS PROC MIXED RANDOM intercept [VISITN] / SUBJECT=USUBJID [TYPE=UN];",
      "REPEATED AVISIT / SUBJECT=USUBJID TYPE=AR(1), on mmrm's fev_data (rows with FEV1).",
      "Started from nlme::lme, polished by minimising our own -2 REML log-likelihood (SAS's);",
      "theta on SAS's scale; W = 2 * inverse of the exact observed Hessian of -2 log L_R;",
      "Satterthwaite df and Kenward-Roger (1997, SAS DDFM=KR, and KR(LINEAR) without R_kl;",
      "analytic derivatives, numDeriv checks under checks)",
      "SEs and df per coefficient, and a KR F test of the three ARMCDTRT:AVISIT coefficients.",
      "Made by validation/make_random_repeated_references.R."),
    r_version = R.version.string,
    packages = list(nlme = as.character(packageVersion("nlme")),
                    numDeriv = as.character(packageVersion("numDeriv")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    data = basename(data_path),
    cases = cases
  )
  jsonlite::write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE)
  cat(sprintf("wrote %s in %.1f s\n", out_path, proc.time()[["elapsed"]] - t0))
}

if (sys.nframe() == 0L) main()
