//! The exported WIT `wasmshop:users/api`, for components that call users directly.

use crate::bindings::exports::wasmshop::users::api::Guest;
use crate::{Component, Error, LoginRequest, ProfileUpdate, RegisterRequest, Token, User, service};

impl Guest for Component {
    fn register(request: RegisterRequest) -> Result<User, Error> {
        service::register(&request)
    }

    fn login(request: LoginRequest) -> Result<Token, Error> {
        // A component calling the api directly has no client address: its calls share one.
        service::login(&request, crate::domain::throttle::UNKNOWN_CLIENT)
    }

    fn logout(access_token: String) -> Result<(), Error> {
        service::logout(&access_token)
    }

    fn get_user(user_id: String) -> Result<User, Error> {
        service::get_user(&user_id)
    }

    fn update_profile(user_id: String, update: ProfileUpdate) -> Result<User, Error> {
        service::update_profile(&user_id, &update)
    }
}
